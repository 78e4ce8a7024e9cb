// What the room tells people in passing: toasts for arrivals, departures,
// reconnects and server errors (those about a message are shown on the
// message instead), and the warnings, kept until dismissed, that a known
// name came back with another key.

import { leftWords } from "../../../../protocol/describe";
import type { ClientSession } from "../../../../protocol/session";
import type { ChatStore } from "./chat.svelte";
import type { MembersStore } from "./members.svelte";

export type ToastTone = "info" | "warn" | "bad";

export interface Toast {
  id: number;
  text: string;
  tone: ToastTone;
}

export interface KeyWarning {
  id: number;
  name: string;
  oldId: string;
  newId: string;
}

/** The part of the session this store listens to. */
export type NoticesSession = Pick<ClientSession, "on">;

export const TOAST_MS = 6_000;
const MAX_TOASTS = 5;
const MAX_KEY_WARNINGS = 10;

let noticeSeq = 0;

export class NoticesStore {
  toasts = $state<Toast[]>([]);
  keyWarnings = $state<KeyWarning[]>([]);

  constructor(session: NoticesSession, members: Pick<MembersStore, "nameOf">, chat: Pick<ChatStore, "isAbout">) {
    session.on("welcome", (w) => {
      if (w.reconnected) this.toast("Reconnected.", "info");
    });
    session.on("joined", ({ entry, again }) => {
      if (!again) this.toast(`${entry.member.name} joined`, entry.verified ? "info" : "warn");
      if (entry.admission?.ok === false)
        this.toast(`${entry.member.name} is not admitted by the room link: nothing will be sent to them.`, "bad");
      else if (!entry.verified)
        this.toast(`${entry.member.name}'s keys do not verify: nothing will be sent to them.`, "bad");
    });
    session.on("left", ({ id, reason, entry }) => {
      const name = entry?.member.name ?? members.nameOf(id);
      this.toast(`${name} ${leftWords(reason)}`, reason === "quit" ? "info" : "warn");
    });
    // Cap durable: away is not gone (messages are kept for them).
    session.on("presence", ({ id, state, entry }) => {
      const name = entry?.member.name ?? members.nameOf(id);
      this.toast(state === "away" ? `${name} is away (messages are kept for them)` : `${name} is back`, "info");
    });
    session.on("error", (e) => {
      // Errors about a send are shown on the message; fatal ones by the banner.
      if (e.fatal || chat.isAbout(e.ref)) return;
      // A video without a poster shows a placeholder; saying so in a toast per video would be noise.
      if (e.ref === "poster") return;
      this.toast(e.message || e.code, "bad");
    });
    session.on("keyChanged", (k) => {
      this.keyWarnings.push({ id: ++noticeSeq, name: k.name, oldId: k.oldId, newId: k.newId });
      if (this.keyWarnings.length > MAX_KEY_WARNINGS) this.keyWarnings.shift();
    });
  }

  /** Shows `text` for a while (twice as long unless it is only info). */
  toast(text: string, tone: ToastTone = "info"): void {
    const id = ++noticeSeq;
    this.toasts.push({ id, text, tone });
    if (this.toasts.length > MAX_TOASTS) this.toasts.shift();
    setTimeout(() => this.dismissToast(id), tone === "info" ? TOAST_MS : TOAST_MS * 2);
  }

  dismissToast(id: number): void {
    const i = this.toasts.findIndex((t) => t.id === id);
    if (i >= 0) this.toasts.splice(i, 1);
  }

  dismissKeyWarning(id: number): void {
    const i = this.keyWarnings.findIndex((w) => w.id === id);
    if (i >= 0) this.keyWarnings.splice(i, 1);
  }
}

// The conversation: messages received (or why one could not be shown) and
// messages written here with their fate (pending, sent to n, failed). The mid
// of a send is known as soon as it is written, so its ack or failure always
// finds it.

import type { ClientSession, ReceivedMessage } from "../../../../protocol/session";
import type { MembersStore } from "./members.svelte";

export type ChatStatus = "pending" | "sent" | "failed" | "received" | "gap";

export interface ChatItem {
  key: string;
  mid: string | null;
  from: string;
  fromName: string;
  mine: boolean;
  /** null: the whole room. */
  to: string[] | null;
  text: string | null;
  /** Why a received message could not be shown; its text never is. */
  problem: string | null;
  ts: number;
  status: ChatStatus;
  delivered: number | null;
  failure: string | null;
  /** Cap durable: recipients that opened it, of how many (the sender's view). */
  opened?: { delivered: number; of: number };
}

/** The part of the session this store listens to and calls. */
export type ChatSession = Pick<ClientSession, "on" | "sendText">;

let gapSeq = 0;

const MAX_MESSAGES = 500;

let localSeq = 0;

export class ChatStore {
  messages = $state<ChatItem[]>([]);

  constructor(
    private readonly session: ChatSession,
    private readonly members: Pick<MembersStore, "selected" | "nameOf">,
    private readonly self: { id: string; name: string },
  ) {
    session.on("message", (m) => this.onMessage(m));
    session.on("ack", ({ mid, delivered }) => {
      const item = this.messages.findLast((x) => x.mid === mid);
      if (item) {
        item.status = "sent";
        item.delivered = delivered;
      }
    });
    session.on("delivered", ({ mid, delivered, of }) => {
      const item = this.messages.findLast((x) => x.mid === mid && x.mine);
      if (item) item.opened = { delivered, of };
    });
    session.on("historyGap", () =>
      this.push({
        key: `gap-${++gapSeq}`,
        mid: null,
        from: "",
        fromName: "",
        mine: false,
        to: null,
        text: "Some messages sent while you were away are no longer kept on the server (history gap).",
        problem: null,
        ts: Date.now(),
        status: "gap",
        delivered: null,
        failure: null,
      }),
    );
    session.on("sendFailed", ({ mid, message }) => {
      const item = this.messages.findLast((x) => x.mid === mid);
      if (item) markFailed(item, message);
    });
  }

  /** Sends to the selected members, or to everyone when none is selected. */
  send(text: string): void {
    const to = this.members.selected.size > 0 ? [...this.members.selected] : null;
    this.push({
      key: `local-${++localSeq}`,
      mid: null,
      from: this.self.id,
      fromName: this.self.name,
      mine: true,
      to,
      text,
      problem: null,
      ts: Date.now(),
      status: "pending",
      delivered: null,
      failure: null,
    });
    // The reactive copy, not the object pushed: changes to it must show.
    const shown = this.messages[this.messages.length - 1];
    try {
      shown.mid = this.session.sendText(text, to ?? undefined);
    } catch (err) {
      markFailed(shown, (err as Error).message);
    }
  }

  /** An error that names a message shown here: it is shown on that message. */
  isAbout(ref: string | undefined): boolean {
    return !!ref && this.messages.some((m) => m.mid === ref);
  }

  private onMessage(m: ReceivedMessage): void {
    // Shown once: a repeat of a mid already shown (the session dedupes too; this covers a store replay).
    if (this.messages.some((x) => x.key === `${m.from}/${m.mid}`)) return;
    this.push({
      key: `${m.from}/${m.mid}`,
      mid: m.mid,
      from: m.from,
      fromName: m.name ?? this.members.nameOf(m.from),
      mine: false,
      to: m.direct ? m.to : null,
      text: m.ok ? m.text : null,
      problem: m.ok ? null : m.reason,
      ts: m.ok ? m.ts : m.at,
      status: "received",
      delivered: null,
      failure: null,
    });
  }

  private push(item: ChatItem): void {
    this.messages.push(item);
    if (this.messages.length > MAX_MESSAGES) this.messages.splice(0, this.messages.length - MAX_MESSAGES);
  }
}

function markFailed(item: ChatItem, why: string): void {
  item.status = "failed";
  item.failure = why;
}

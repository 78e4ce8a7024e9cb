// Turns a `msg` from the server into what a person may read: opened and
// checked against the sender's announced keys, or a reason why not, and each
// (from, mid) shown once however often the server repeats it (it resends after
// a lost ack, and the sender resends after a reconnect).
//
// Browser-safe: no node: imports.

import { openEnvelope, type Identity } from "./crypto";
import type { Members } from "./members";
import type { ServerMessageOf } from "./messages";
import { ENVELOPE_V2_ALG } from "./e2e/algs";

/** v2 rooms: opens sender-key envelopes (protocol/e2e/groupSession.ts); null holds a message until its key arrives. */
export interface InboxV2 {
  open(
    m: ServerMessageOf<"msg">,
  ): Promise<{ ok: true; text: string; ts: number } | { ok: false; reason: string } | null>;
}

interface ReceivedBase {
  from: string;
  /** Sender's name, null when the sender is not a known member. */
  name: string | null;
  mid: string;
  to: string[];
  /** Server time of delivery (ms epoch). */
  at: number;
  /** True when `to` leaves out some other member present. */
  direct: boolean;
  /** Cap durable: the message's place in the room log. */
  seq?: number;
}

export type ReceivedMessage = ReceivedBase & ({ ok: true; text: string; ts: number } | { ok: false; reason: string });

type Seen = "ok" | "failed";

export class Inbox {
  /** Insertion-ordered, so the oldest is forgotten first. */
  private seen = new Map<string, Seen>();

  constructor(
    private readonly identity: Identity,
    private readonly room: string,
    private readonly maxSeen: number,
    private readonly v2: InboxV2 | null = null,
  ) {}

  /**
   * The message to show, or null for a repeat. Calls must not overlap: the
   * repeat check spans the await.
   */
  async open(m: ServerMessageOf<"msg">, members: Members): Promise<ReceivedMessage | null> {
    const key = `${m.from}\n${m.mid}`;
    const seen = this.seen.get(key);
    if (seen === "ok") return null;
    const sender = members.get(m.from);
    // v2: an empty `to` is a message to the whole room (docs/protocol.md section 12).
    const direct = m.env.alg === ENVELOPE_V2_ALG && m.to.length === 0 ? false : members.isDirect(m.from, m.to);
    const base: ReceivedBase = {
      from: m.from,
      name: sender?.member.name ?? null,
      mid: m.mid,
      to: m.to,
      at: m.at,
      direct,
    };
    let result: ReceivedMessage;
    if (!sender) result = { ...base, ok: false, reason: "sender is not a member of this room" };
    else if (sender.admission?.ok === false) result = { ...base, ok: false, reason: sender.admission.reason };
    else if (!sender.verified) result = { ...base, ok: false, reason: "sender's keys do not verify" };
    else if (m.env.alg === ENVELOPE_V2_ALG) {
      const opened = this.v2 ? await this.v2.open(m) : { ok: false as const, reason: "a v2 message in a v1 room" };
      if (opened === null) return null;
      result = { ...base, ...opened };
    } else {
      const opened = await openEnvelope(this.identity, {
        room: this.room,
        from: m.from,
        mid: m.mid,
        env: m.env,
        senderSigKey: sender.member.sigKey,
      });
      result = { ...base, ...opened };
    }
    // A failed copy does not hide a genuine one that comes later, but the
    // same failure is reported once.
    if (!result.ok && seen === "failed") return null;
    this.remember(key, result.ok ? "ok" : "failed");
    return result;
  }

  private remember(key: string, v: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, v);
    if (this.seen.size > this.maxSeen) this.seen.delete(this.seen.keys().next().value as string);
  }
}

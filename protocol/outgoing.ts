// Messages this member has written and the server has not yet acknowledged.
// Each keeps its mid for life: the server delivers a (from, mid) once, so a
// resend after a lost ack or a reconnect cannot show up twice. A message is
// sealed for the recipients it was written for, sent once per connection, and
// sealed again (same mid) only when those recipients change.
//
// Browser-safe: no node: imports, timers through globalThis.
//
// Just over 300 lines: one queue and its one state machine (seal, wait for
// recipients, resend on change); nothing in it stands alone.

import { toBase64Url } from "./base64";
import { utf8Length } from "./codec";
import { sealEnvelope, type Identity } from "./crypto";
import { MAX_TEXT_CHARS } from "./limits";
import type { Members } from "./members";
import type { AnyEnvelope, ClientMessageOf, EnvelopeV2, ErrorMsg } from "./messages";

/** The welcomed connection the queue may send on. */
export interface OutgoingLink {
  /** Tells connections apart: a message is sent once on each. */
  gen: number;
  /** When this connection was welcomed (ms epoch). */
  onlineAt: number;
  send(msg: ClientMessageOf<"send">): boolean;
}

export interface OutgoingOptions {
  identity: Identity;
  room: string;
  members: Members;
  maxPending: number;
  /** After a reconnect, how long a message waits for its recipients to come back. */
  recipientWaitMs: number;
  /** unknown_recipient / rate_limited answers tolerated per message. */
  maxSendRetries: number;
  /** After a rate_limited, how long nothing is sent on that connection. */
  rateLimitRetryMs: number;
  /** Null unless welcomed and online. */
  link(): OutgoingLink | null;
  /** The server's limit on a sealed envelope, as of now. */
  maxEnvelope(): number;
  acked(mid: string, delivered: number, seq?: number): void;
  failed(mid: string, code: string, message: string): void;
  log(message: string): void;
  /** v2 rooms: seals a room message once under the sender chain (protocol/e2e/groupSession.ts), resealed on each send. */
  sealRoom?: (p: { mid: string; text: string; ts: number; recipients: readonly string[] }) => Promise<EnvelopeV2>;
}

interface Pending {
  mid: string;
  text: string;
  ts: number;
  /** Who it is for; null for a room message written before the first welcome. */
  intended: string[] | null;
  /** False for a room message written while alone: acknowledged locally with 0. */
  hadRecipients: boolean;
  sealedFor: string[] | null;
  env: AnyEnvelope | null;
  /** Written for the whole room (no `to`). */
  room: boolean;
  /** Generation of the connection it was last sent on; 0 = not sent on any. */
  sentGen: number;
  retries: number;
}

export function sameMembers(a: readonly string[] | null, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function newMid(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}

type Timer = ReturnType<typeof globalThis.setTimeout>;

export class Outgoing {
  private pending = new Map<string, Pending>();
  /** Flushes run one at a time, in order, so sends keep the order they were written in. */
  private flushes: Promise<void> = Promise.resolve();
  private flushTimer: Timer | null = null;
  private flushAgainAt = 0;
  /** After a rate_limited: nothing goes out on connection `gen` before `until` (ms epoch). */
  private hold: { gen: number; until: number } | null = null;

  constructor(private readonly o: OutgoingOptions) {}

  /** Sends not yet acknowledged. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues `text` for every verified member but self (`to` absent) or for the
   * chosen members, and returns its mid; `kick` sends it. Throws, with a
   * message for people, when it cannot be sent at all. `welcomed`: whether the
   * member list is known yet (before that a room message is for whoever is
   * there once it is).
   */
  add(text: string, to: readonly string[] | undefined, welcomed: boolean): string {
    if (typeof text !== "string" || text.length === 0) throw new Error("empty message");
    if ([...text].length > MAX_TEXT_CHARS) throw new Error(`message longer than ${MAX_TEXT_CHARS} characters`);
    if (this.pending.size >= this.o.maxPending)
      throw new Error(`${this.o.maxPending} messages are still unacknowledged`);
    let intended: string[] | null = null;
    if (to !== undefined) {
      this.o.members.checkRecipients(to);
      intended = [...to];
    } else if (welcomed) {
      intended = [...this.o.members.recipientIds()];
    }
    const mid = newMid();
    this.pending.set(mid, {
      mid,
      text,
      ts: Date.now(),
      intended,
      hadRecipients: intended === null || intended.length > 0,
      sealedFor: null,
      env: null,
      room: to === undefined,
      sentGen: 0,
      retries: 0,
    });
    return mid;
  }

  /** The server took it (cap durable: stored under `seq`): it will not be sent again. */
  onAck(mid: string, delivered: number, seq?: number): void {
    if (!this.pending.delete(mid)) return;
    this.o.acked(mid, delivered, seq);
  }

  /**
   * A non-fatal error received on connection `gen`: rate_limited pauses and
   * resends; one that names a pending send retries it or gives it up.
   */
  onError(e: ErrorMsg, gen: number): void {
    if (e.fatal) return;
    if (e.code === "rate_limited") return this.rateLimited(e, gen);
    if (e.ref === undefined) return;
    const p = this.pending.get(e.ref);
    if (!p) return;
    if (e.code === "store_full" || e.code === "store_failed") {
      // Not stored, so not acknowledged: it stays pending and goes again (same mid) after a pause.
      p.sentGen = 0;
      void this.kick(this.o.rateLimitRetryMs);
      return;
    }
    if (e.code === "unknown_recipient") {
      if (++p.retries > this.o.maxSendRetries) return this.fail(p, e.code, e.message);
      // Someone left meanwhile: seal again, same mid, for whoever is still here.
      p.sentGen = 0;
      const present = this.o.members.recipientIds();
      p.intended = (p.intended ?? []).filter((id) => present.has(id));
      void this.kick();
      return;
    }
    this.fail(p, e.code, e.message);
  }

  /**
   * The core dropped frames of connection `gen`. It says so at most once a
   * second and names at most one of them, so every send still unacknowledged
   * there goes again (same mid: the core dedupes) after a pause, in order,
   * with nothing sent before it ends.
   */
  private rateLimited(e: ErrorMsg, gen: number): void {
    // A connection already gone: its sends go again on the next one anyway.
    if (this.o.link()?.gen !== gen) return;
    for (const p of [...this.pending.values()]) {
      if (p.sentGen !== gen) continue;
      if (++p.retries > this.o.maxSendRetries) this.fail(p, "rate_limited", e.message);
      else p.sentGen = 0;
    }
    this.hold = { gen, until: Date.now() + this.o.rateLimitRetryMs };
    void this.kick(this.o.rateLimitRetryMs);
  }

  /** True while connection `gen` is paused after a rate_limited; a flush is then due at its end. */
  private held(gen: number): boolean {
    if (!this.hold || this.hold.gen !== gen) return false;
    const left = this.hold.until - Date.now();
    if (left <= 0) {
      this.hold = null;
      return false;
    }
    void this.kick(left);
    return true;
  }

  /**
   * Messages not yet sent on connection `gen` stop waiting for a member who
   * left; one already sent there gets its answer from the server instead.
   */
  memberLeft(id: string, gen: number): void {
    for (const p of this.pending.values()) {
      if (p.sentGen !== gen && p.intended) p.intended = p.intended.filter((x) => x !== id);
    }
  }

  /** Runs a flush after the ones already queued (or after delayMs). */
  kick(delayMs = 0): Promise<void> {
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      if (this.flushTimer !== null && this.flushAgainAt <= at) return Promise.resolve();
      this.cancelTimer();
      this.flushAgainAt = at;
      this.flushTimer = globalThis.setTimeout(() => {
        this.flushTimer = null;
        void this.kick();
      }, delayMs);
      return Promise.resolve();
    }
    this.flushes = this.flushes
      .then(() => this.flush())
      .catch((err: unknown) => this.o.log(`flush failed: ${String(err)}`));
    return this.flushes;
  }

  /** Cancels a delayed flush; what is pending stays pending. */
  cancelTimer(): void {
    if (this.flushTimer !== null) globalThis.clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private fail(p: Pending, code: string, message: string): void {
    if (!this.pending.delete(p.mid)) return;
    this.o.failed(p.mid, code, message);
  }

  /** Sends pending messages in order; one that waits for its recipients holds back the rest. */
  private async flush(): Promise<void> {
    for (const p of [...this.pending.values()]) {
      const link = this.o.link();
      if (!link || this.held(link.gen)) return;
      if (!this.pending.has(p.mid) || p.sentGen === link.gen) continue;
      const present = this.o.members.recipientIds();
      if (p.intended === null) {
        p.intended = [...present];
        p.hadRecipients = p.intended.length > 0;
      }
      // Away members are recipients too (v2: the chain key is wrapped to the
      // agreement key they announced last, and stored for them with the message).
      const here = p.intended.filter((id) => present.has(id));
      if (here.length < p.intended.length) {
        // After a reconnect the others come back one by one; give them a moment
        // rather than lose the message for them (a mid is delivered only once).
        const waited = Date.now() - link.onlineAt;
        if (waited < this.o.recipientWaitMs) {
          void this.kick(this.o.recipientWaitMs - waited);
          return;
        }
        p.intended = here;
      }
      if (here.length === 0) {
        if (p.hadRecipients) this.fail(p, "unknown_recipient", "the recipients have left");
        else {
          // Alone in the room: nothing to deliver, nothing to send.
          this.pending.delete(p.mid);
          this.o.acked(p.mid, 0);
        }
        continue;
      }
      const v2 = p.room && this.o.sealRoom !== undefined;
      if (!p.env || !sameMembers(p.sealedFor, here) || v2) {
        const recipients = here.map((id) => ({ id, encKey: this.o.members.get(id)!.member.encKey }));
        let env: AnyEnvelope;
        try {
          env = v2
            ? await this.o.sealRoom!({ mid: p.mid, text: p.text, ts: p.ts, recipients: here })
            : await sealEnvelope(this.o.identity, {
                room: this.o.room,
                mid: p.mid,
                text: p.text,
                ts: p.ts,
                recipients,
              });
        } catch (err) {
          // The connection went while v2 keys were being sent: this goes again on the next.
          if (v2 && this.o.link()?.gen !== link.gen) return;
          this.fail(p, "internal", `sealing failed: ${(err as Error).message}`);
          continue;
        }
        const size = utf8Length(JSON.stringify(env));
        const maxEnvelope = this.o.maxEnvelope();
        if (size > maxEnvelope) {
          this.fail(p, "too_large", `sealed message is ${size} bytes, over the server's ${maxEnvelope}`);
          continue;
        }
        p.env = env;
        p.sealedFor = here;
      }
      // Sealing took time: the connection may have gone, or the ack come.
      if (this.o.link()?.gen !== link.gen || !this.pending.has(p.mid) || this.held(link.gen)) return;
      // A v2 room message goes to the whole room without a `to` list, so it stays flat in a room of 500.
      const send = v2
        ? { t: "send" as const, mid: p.mid, env: p.env }
        : { t: "send" as const, mid: p.mid, to: here, env: p.env };
      if (link.send(send)) p.sentGen = link.gen;
    }
  }
}

// One member's v2 state in one room (docs/protocol.md section 12): its v2 keys
// (kept between sessions through keyStore2.ts), the admitted members, its own sender chain and
// who holds it, the chains received, and messages that arrived before their
// key. session.ts wires it in through small hooks; the crypto is in the
// sibling modules.
//
// Browser-safe: no node: imports, timers through globalThis.
//
// Over 300 lines: one class whose four parts (connection, members, sending,
// receiving) share one chain state; the next split is receiving (held
// messages and their early waits) into its own module.

import { fromBase64, toBase64 } from "../base64";
import type { Identity } from "../crypto";
import type { Hello, Member, EnvelopeV2, ServerMessageOf } from "../messages";
import { admitMember, makeAdmissionProof, type AdmittedMember } from "./admission";
import { openDistribution, wrapChainKey, type KeyDistribution } from "./distribution";
import { linkedIdentity2, type Identity2 } from "./identity2";
import {
  MemoryV2KeyStore,
  storedPair,
  V2_KEY_LIMITS,
  type StoredKeyPair,
  type V2KeyRecord,
  type V2KeyStore,
} from "./keyStore2";
import { ed25519Sign, generateAgreementKeyPair, generateSigningKeyPair, utf8, type Bytes } from "./primitives";
import type { RoomKeys } from "./roomSecret";
import { OutboundChain, SenderKeyRing, SENDER_KEY_LIMITS, type OpenedV2, type SenderKeyLimits } from "./senderKeys";
import { helloV2ProofString, MAX_KEY_DISTS } from "./wire";

/** Named limits of the client's v2 layer beyond SENDER_KEY_LIMITS. */
export const GROUP_SESSION_LIMITS = {
  /** Messages held, all senders together, while their chain key has not arrived. */
  maxEarly: 256,
  /** How long such a message waits before it is shown as "no key yet". */
  earlyWaitMs: 10_000,
  /** Chains remembered per sender as already seen, so a replayed old distribution never brings one back. */
  retiredPerSender: 64,
};
export type GroupSessionLimits = typeof GROUP_SESSION_LIMITS;

/** The prefix of the reason shown for a message whose key never arrived (not the same as unverifiable). */
export const NO_KEY_YET = "no key yet";

export interface GroupSessionPort {
  /** Sends distributions on the current connection; false when it is gone. */
  sendKeys(dists: KeyDistribution[]): boolean;
  /** A held message whose key came (or whose wait ended): run it through the inbox again. */
  retry(m: ServerMessageOf<"msg">): void;
  log(message: string): void;
}

export type AdmissionResult = { ok: true } | { ok: false; reason: string };

type Msg = ServerMessageOf<"msg">;

export class GroupSession {
  private me: Identity2 | null = null;
  /** The signing key (kept for good) and this connection's agreement key, as stored. */
  private mine: { sig: StoredKeyPair; dh: StoredKeyPair } | null = null;
  /** Agreement keys of earlier connections: what others wrapped for us while we were away. */
  private past: { privateKey: CryptoKey; publicKey: Bytes }[] = [];
  private admitted = new Map<string, AdmittedMember>();
  private out: OutboundChain | null = null;
  /** Members holding the current outbound chain. */
  private holders = new Set<string>();
  private rotateDue = true;
  private ring: SenderKeyRing;
  private retired = new Map<string, Set<string>>();
  private early = new Map<string, { m: Msg; timer: ReturnType<typeof globalThis.setTimeout> }>();
  private gaveUp = new Set<string>();
  /** Counters for tests and the bench. */
  readonly stats = { rotations: 0, distributionsSent: 0, distributionsOpened: 0, distributionsRefused: 0 };

  constructor(
    private readonly v1: Identity,
    readonly keys: RoomKeys,
    private readonly port: GroupSessionPort,
    private readonly limits: SenderKeyLimits = SENDER_KEY_LIMITS,
    private readonly glimits: GroupSessionLimits = GROUP_SESSION_LIMITS,
    private readonly store: V2KeyStore = new MemoryV2KeyStore(),
  ) {
    this.ring = new SenderKeyRing(limits);
  }

  get room(): string {
    return this.keys.room;
  }

  /** The current chain's id (tests, bench). */
  get epoch(): string | null {
    return this.out?.epoch ?? null;
  }

  // ---- connection ---------------------------------------------------------------

  /**
   * The v1 hello plus the v2 fields. The signing key is the stored one (what we
   * signed while others were away still verifies); the agreement key is new at
   * every connection, and the older ones are kept only until the resume is
   * complete (resumed), so at rest there is one: the key others wrap to while
   * we are away.
   */
  async hello(base: Hello, nonce: string): Promise<Hello> {
    const opts = { extractable: this.store.extractable };
    const rec = await this.load();
    let sigPair: StoredKeyPair;
    if (rec) sigPair = rec.sig;
    else {
      const k = await generateSigningKeyPair(opts);
      sigPair = storedPair(k.privateKey, k.publicKey);
    }
    const dh = await generateAgreementKeyPair(opts);
    const me = await linkedIdentity2(
      this.v1,
      { privateKey: sigPair.privateKey, publicKey: fromBase64(sigPair.publicKey)! },
      dh,
    );
    const dhPair = storedPair(dh.privateKey, dh.publicKey);
    const older = (rec?.dh ?? []).filter((k) => k.publicKey !== dhPair.publicKey);
    this.past = older.map((k) => ({ privateKey: k.privateKey, publicKey: fromBase64(k.publicKey)! }));
    this.mine = { sig: sigPair, dh: dhPair };
    await this.save([dhPair, ...older].slice(0, V2_KEY_LIMITS.agreementKeysKept));
    const admission = await makeAdmissionProof(this.keys, me);
    const proof2 = toBase64(await ed25519Sign(me.sigPrivate2, utf8(helloV2ProofString(nonce, base.room, base.name))));
    this.me = me;
    const fields = {
      v: 2,
      sig2: me.sig2,
      dh2: me.dh2,
      link: me.link,
      admission,
      vk: toBase64(this.keys.verificationKey),
      proof2,
    };
    return { ...base, ...fields } as Hello;
  }

  private async load(): Promise<V2KeyRecord | null> {
    try {
      return await this.store.load(this.keys.room);
    } catch (e) {
      this.port.log(`v2 key store: cannot load (${String(e)}); new keys for this room`);
      return null;
    }
  }

  private async save(dh: StoredKeyPair[]): Promise<void> {
    if (!this.mine) return;
    try {
      await this.store.save(this.keys.room, { sig: this.mine.sig, dh });
    } catch (e) {
      this.port.log(`v2 key store: cannot save (${String(e)}); what is sent while we are away may not open`);
    }
  }

  /**
   * The replay of what was stored for us is complete: the distributions wrapped
   * to older agreement keys are in, so only this connection's key stays at
   * rest (older ones stay in memory for this connection's stragglers).
   */
  async resumed(): Promise<void> {
    if (this.mine) await this.save([this.mine.dh]);
  }

  /** A new welcome: who held our chain may have changed while we were away, so a new one. */
  welcomed(): void {
    this.admitted.clear();
    this.rotateDue = true;
  }

  // ---- members ----------------------------------------------------------------------

  /** Checks an announced member's v2 keys and admission proof; only an admitted member is ever given a key. */
  async checkMember(m: Member): Promise<AdmissionResult> {
    if (!m.v2) return this.notAdmitted(m.id, "no admission proof (not admitted by the room link)");
    if (m.id === this.v1.id && (!this.me || m.v2.sig2 !== this.me.sig2 || m.v2.dh2 !== this.me.dh2)) {
      return this.notAdmitted(m.id, "announced with our id but keys that are not ours");
    }
    const r = await admitMember(
      this.keys.verificationKey,
      this.keys.room,
      { id: m.id, sigKey: m.sigKey, sig2: m.v2.sig2, dh2: m.v2.dh2, link: m.v2.link },
      m.v2.admission,
    );
    if (!r.ok)
      return this.notAdmitted(
        m.id,
        r.reason === "not admitted by the room link" ? r.reason : `not admitted by the room link: ${r.reason}`,
      );
    const prev = this.admitted.get(m.id);
    // A new connection of that member has a new agreement key: it needs our chain again.
    if (prev && prev.dh2 !== r.member.dh2) this.holders.delete(m.id);
    this.admitted.set(m.id, r.member);
    return { ok: true };
  }

  private notAdmitted(id: string, reason: string): AdmissionResult {
    this.admitted.delete(id);
    this.holders.delete(id);
    return { ok: false, reason };
  }

  /**
   * A member went away (still a member, no rotation): it may come back as a new
   * session that lost our chain, so before our next message it is given the
   * chain again, wrapped to the agreement key it announced last; the core
   * stores that for it with the messages (docs/protocol.md section 12).
   */
  memberAway(id: string): void {
    this.holders.delete(id);
  }

  /** A member left or was removed: its chains are forgotten and ours is replaced before our next message. */
  memberLeft(id: string): void {
    this.admitted.delete(id);
    this.ring.forget(id);
    if (this.holders.delete(id)) this.rotateDue = true;
  }

  // ---- sending -------------------------------------------------------------------------

  /**
   * Seals a room message once for everyone. First: a new chain when due
   * (after a leave, a new connection, or the count/age limits), and the
   * chain key to each recipient that is admitted and does not hold it yet.
   */
  async seal(p: { mid: string; text: string; ts: number; recipients: readonly string[] }): Promise<EnvelopeV2> {
    const me = this.me;
    if (!me) throw new Error("not connected");
    if (!this.out || this.rotateDue || this.out.needsRotation(Date.now(), this.limits)) {
      this.out = OutboundChain.create();
      this.holders.clear();
      this.rotateDue = false;
      this.stats.rotations++;
    }
    const need = p.recipients.filter((id) => !this.holders.has(id) && this.admitted.has(id));
    if (need.length > 0) {
      const snap = this.out.snapshot();
      const dists = await Promise.all(
        need.map((id) =>
          wrapChainKey(me, this.admitted.get(id)!, {
            room: this.keys.room,
            epoch: snap.epoch,
            n: snap.n,
            chainKey: snap.chainKey,
          }),
        ),
      );
      snap.chainKey.fill(0);
      for (let i = 0; i < dists.length; i += MAX_KEY_DISTS) {
        if (!this.port.sendKeys(dists.slice(i, i + MAX_KEY_DISTS)))
          throw new Error("connection lost while sending keys");
      }
      for (const id of need) this.holders.add(id);
      this.stats.distributionsSent += dists.length;
    }
    return this.out.seal(me.sigPrivate2, { room: this.keys.room, from: me.id, mid: p.mid, text: p.text, ts: p.ts });
  }

  // ---- receiving -----------------------------------------------------------------------

  /** A distribution for us: opened, its chain kept (once), and the messages that waited for it retried. */
  async onKeys(d: KeyDistribution): Promise<void> {
    const me = this.me;
    const sender = this.admitted.get(d.from);
    if (!me || !sender) {
      this.stats.distributionsRefused++;
      return this.port.log(`ignoring a key from ${d.from}: not an admitted member`);
    }
    const retired = this.retired.get(d.from);
    if (retired?.has(d.epoch)) return; // a replay: that chain is held or was retired
    const opened = await openDistribution(me, sender, d, this.keys.room, this.past);
    if (!opened.ok) {
      this.stats.distributionsRefused++;
      return this.port.log(`ignoring a key from ${d.from}: ${opened.reason}`);
    }
    const added = this.ring.addInbound(d.from, opened.epoch, opened.chainKey, opened.n);
    opened.chainKey.fill(0);
    if (!added) return;
    this.stats.distributionsOpened++;
    this.retire(d.from, opened.epoch);
    for (const [key, e] of [...this.early]) {
      if (e.m.from === d.from && (e.m.env as EnvelopeV2).epoch === opened.epoch) {
        globalThis.clearTimeout(e.timer);
        this.early.delete(key);
        this.port.retry(e.m);
      }
    }
  }

  private retire(from: string, epoch: string): void {
    let s = this.retired.get(from);
    if (!s) this.retired.set(from, (s = new Set()));
    s.add(epoch);
    for (const e of s) {
      if (s.size <= this.glimits.retiredPerSender) break;
      s.delete(e);
    }
  }

  /**
   * Opens a v2 message from an admitted sender. Null: held until its chain
   * key arrives (bounded, then shown as "no key yet"); a reason, never text,
   * for anything that does not verify.
   */
  async open(m: Msg): Promise<OpenedV2 | null> {
    const env = m.env as EnvelopeV2;
    const sender = this.admitted.get(m.from);
    if (!sender) return { ok: false, reason: "sender not admitted by the room link" };
    const key = `${m.from}\n${m.mid}`;
    if (!this.ring.has(m.from, env.epoch)) {
      if (this.gaveUp.delete(key))
        return { ok: false, reason: `${NO_KEY_YET}: the sender's key for this message did not arrive` };
      this.hold(key, m);
      return null;
    }
    return this.ring.open(sender.sig2Bytes, { room: this.keys.room, from: m.from, mid: m.mid, env });
  }

  private hold(key: string, m: Msg): void {
    if (this.early.has(key)) return;
    const giveUp = (k: string): void => {
      const e = this.early.get(k);
      if (!e) return;
      globalThis.clearTimeout(e.timer);
      this.early.delete(k);
      this.gaveUp.add(k);
      if (this.gaveUp.size > this.glimits.maxEarly) this.gaveUp.delete(this.gaveUp.values().next().value as string);
      this.port.retry(e.m);
    };
    if (this.early.size >= this.glimits.maxEarly) giveUp(this.early.keys().next().value as string);
    const timer = globalThis.setTimeout(() => giveUp(key), this.glimits.earlyWaitMs);
    this.early.set(key, { m, timer });
  }

  /** Held messages (tests). */
  get earlyCount(): number {
    return this.early.size;
  }

  /** Stops the timers (session closed). */
  close(): void {
    for (const e of this.early.values()) globalThis.clearTimeout(e.timer);
    this.early.clear();
  }
}

// Sender-key chains (Signal's KDF chain, Megolm's rotation rules): each member
// encrypts a room message once under its own ratcheting chain and signs it once,
// so a message costs the same in a room of 10 or 500.

import { fromBase64, toBase64 } from "../base64";
import { MAX_TEXT_CHARS } from "../limits";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  hkdf,
  hmacSha256,
  randomBytes,
  toB64Url,
  utf8,
  wipe,
  type Bytes,
} from "./primitives";

import { ENVELOPE_V2_ALG } from "./algs";
export { ENVELOPE_V2_ALG };

/** Named limits of the sender-key layer (Megolm's defaults for rotation). */
export const SENDER_KEY_LIMITS = {
  /** Message keys a receiver will derive ahead of (and keep for) out-of-order messages, per chain. */
  maxSkip: 2_000,
  /** A sender starts a new chain after this many messages ... */
  rotateAfterMessages: 100,
  /** ... or when its chain is this old. */
  rotateAfterMs: 7 * 24 * 3600_000,
  /** Chains kept per sender, so messages sealed just before a rotation still open. */
  chainsPerSender: 4,
};
export type SenderKeyLimits = typeof SENDER_KEY_LIMITS;

const MSG_KEY = new Uint8Array([0x01]);
const CHAIN_KEY = new Uint8Array([0x02]);
const ZERO_SALT = new Uint8Array(32);
const MSG_INFO = utf8("sealroom-v2 message key");

export interface EnvelopeV2 {
  alg: typeof ENVELOPE_V2_ALG;
  /** The chain: 16 random bytes, base64url. */
  epoch: string;
  /** The message's index in its chain. */
  n: number;
  /** base64 AES-256-GCM ciphertext with its tag. */
  ct: string;
  /** base64 Ed25519 signature by the sender's v2 key. */
  sig: string;
}

export function envelopeV2Header(room: string, from: string, mid: string, epoch: string, n: number): string {
  return `sealroom-msg-v2\n${room}\n${from}\n${mid}\n${epoch}\n${n}`;
}

export function envelopeV2SigString(
  room: string,
  from: string,
  mid: string,
  env: Pick<EnvelopeV2, "epoch" | "n" | "ct">,
): string {
  return `${envelopeV2Header(room, from, mid, env.epoch, env.n)}\n${env.ct}`;
}

/** One step of the chain: the message key for this index, and the next chain key. */
export async function chainStep(chainKey: Bytes): Promise<{ messageKey: Bytes; next: Bytes }> {
  const [messageKey, next] = await Promise.all([hmacSha256(chainKey, MSG_KEY), hmacSha256(chainKey, CHAIN_KEY)]);
  return { messageKey, next };
}

/** AES key and nonce from a message key; each message key seals one message, so a derived nonce never repeats. */
async function messageCipher(messageKey: Bytes): Promise<{ key: Bytes; iv: Bytes }> {
  const okm = await hkdf(messageKey, ZERO_SALT, MSG_INFO, 44);
  return { key: okm.slice(0, 32), iv: okm.slice(32) };
}

// ---- sending ---------------------------------------------------------------------

/** The sender's own chain. Old chain keys are overwritten as it advances. */
export class OutboundChain {
  private constructor(
    readonly epoch: string,
    private chainKey: Bytes,
    private index: number,
    readonly createdAt: number,
  ) {}

  static create(now = Date.now()): OutboundChain {
    return new OutboundChain(toB64Url(randomBytes(16)), randomBytes(32), 0, now);
  }

  /** The chain key and index to hand a member now: it opens this message and later ones, never earlier ones. */
  snapshot(): { epoch: string; n: number; chainKey: Bytes } {
    return { epoch: this.epoch, n: this.index, chainKey: this.chainKey.slice() };
  }

  get sent(): number {
    return this.index;
  }

  needsRotation(now = Date.now(), limits: SenderKeyLimits = SENDER_KEY_LIMITS): boolean {
    return this.index >= limits.rotateAfterMessages || now - this.createdAt >= limits.rotateAfterMs;
  }

  async seal(
    signer: CryptoKey,
    p: { room: string; from: string; mid: string; text: string; ts: number },
  ): Promise<EnvelopeV2> {
    const n = this.index;
    const { messageKey, next } = await chainStep(this.chainKey);
    wipe(this.chainKey);
    this.chainKey = next;
    this.index = n + 1;
    const { key, iv } = await messageCipher(messageKey);
    wipe(messageKey);
    const plaintext = utf8(JSON.stringify({ text: p.text, ts: p.ts }));
    const ct = toBase64(
      await aesGcmEncrypt(key, iv, plaintext, utf8(envelopeV2Header(p.room, p.from, p.mid, this.epoch, n))),
    );
    wipe(key);
    const sig = await ed25519Sign(
      signer,
      utf8(envelopeV2SigString(p.room, p.from, p.mid, { epoch: this.epoch, n, ct })),
    );
    return { alg: ENVELOPE_V2_ALG, epoch: this.epoch, n, ct, sig: toBase64(sig) };
  }
}

// ---- receiving -------------------------------------------------------------------

export type OpenedV2 = { ok: true; text: string; ts: number } | { ok: false; reason: string };

/** A chain received from one sender: the chain key at `next`, and keys skipped over for late messages. */
export class InboundChain {
  private skipped = new Map<number, Bytes>();

  constructor(
    readonly epoch: string,
    private chainKey: Bytes,
    private next: number,
    private readonly limits: SenderKeyLimits = SENDER_KEY_LIMITS,
  ) {}

  /** Index of the next message key not yet derived. */
  get position(): number {
    return this.next;
  }

  get skippedCount(): number {
    return this.skipped.size;
  }

  /** The message key for index n, or why there is none; the key is deleted once handed out (replay rejection). */
  private async take(n: number): Promise<{ ok: true; key: Bytes; commit: () => void } | { ok: false; reason: string }> {
    if (n < this.next) {
      const key = this.skipped.get(n);
      if (!key) return { ok: false, reason: "message key already used or expired (replay or too old)" };
      return { ok: true, key, commit: () => this.skipped.delete(n) };
    }
    if (n - this.next > this.limits.maxSkip) {
      return {
        ok: false,
        reason: `message is ${n - this.next} ahead in its chain (more than ${this.limits.maxSkip} missing)`,
      };
    }
    // Derive on copies and commit only once the message opened, so a forged
    // or broken message cannot move the chain.
    let ck = this.chainKey;
    const found = new Map<number, Bytes>();
    for (let i = this.next; i < n; i++) {
      const s = await chainStep(ck);
      found.set(i, s.messageKey);
      ck = s.next;
    }
    const last = await chainStep(ck);
    return {
      ok: true,
      key: last.messageKey,
      commit: () => {
        wipe(this.chainKey);
        this.chainKey = last.next;
        this.next = n + 1;
        for (const [i, k] of found) this.skipped.set(i, k);
        // Bounded: the oldest skipped keys go first (a Map iterates in insertion order).
        for (const i of this.skipped.keys()) {
          if (this.skipped.size <= this.limits.maxSkip) break;
          wipe(this.skipped.get(i)!);
          this.skipped.delete(i);
        }
      },
    };
  }

  /** Verifies the sender's signature before anything else; any failure yields a reason, never text. */
  async open(senderSig2: Bytes, p: { room: string; from: string; mid: string; env: EnvelopeV2 }): Promise<OpenedV2> {
    const { env } = p;
    if (env.alg !== ENVELOPE_V2_ALG) return { ok: false, reason: `unknown algorithm ${String(env.alg)}` };
    if (env.epoch !== this.epoch) return { ok: false, reason: "no key for this chain" };
    if (!Number.isSafeInteger(env.n) || env.n < 0) return { ok: false, reason: "bad message index" };
    const sig = fromBase64(env.sig);
    const ct = fromBase64(env.ct);
    if (!sig || !ct || !(await ed25519Verify(senderSig2, sig, utf8(envelopeV2SigString(p.room, p.from, p.mid, env))))) {
      return { ok: false, reason: "signature does not verify" };
    }
    const taken = await this.take(env.n);
    if (!taken.ok) return taken;
    const { key, iv } = await messageCipher(taken.key);
    const plain = await aesGcmDecrypt(key, iv, ct, utf8(envelopeV2Header(p.room, p.from, p.mid, env.epoch, env.n)));
    wipe(key);
    if (!plain) return { ok: false, reason: "decryption failed" };
    taken.commit();
    return parsePlaintext(plain);
  }
}

function parsePlaintext(plain: Bytes): OpenedV2 {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    return { ok: false, reason: "plaintext is not JSON" };
  }
  const { text, ts } = (body ?? {}) as { text?: unknown; ts?: unknown };
  if (typeof text !== "string" || typeof ts !== "number" || [...text].length > MAX_TEXT_CHARS) {
    return { ok: false, reason: "plaintext has the wrong shape" };
  }
  return { ok: true, text, ts };
}

// ---- a room's chains ----------------------------------------------------------------

/**
 * Every chain a member holds in one room: its own outbound chain and, per
 * sender, the last few inbound chains. A chain is accepted once: a replayed
 * or reordered distribution never rewinds it.
 */
export class SenderKeyRing {
  private inbound = new Map<string, Map<string, InboundChain>>();

  constructor(private readonly limits: SenderKeyLimits = SENDER_KEY_LIMITS) {}

  /** True when the chain is new; false for one already held (a replay) or a stale one. */
  addInbound(sender: string, epoch: string, chainKey: Bytes, n: number): boolean {
    let chains = this.inbound.get(sender);
    if (!chains) this.inbound.set(sender, (chains = new Map()));
    if (chains.has(epoch)) return false;
    chains.set(epoch, new InboundChain(epoch, chainKey.slice(), n, this.limits));
    for (const e of chains.keys()) {
      if (chains.size <= this.limits.chainsPerSender) break;
      chains.delete(e);
    }
    return true;
  }

  has(sender: string, epoch: string): boolean {
    return this.inbound.get(sender)?.has(epoch) ?? false;
  }

  /** A member who left: its chains are forgotten. */
  forget(sender: string): void {
    this.inbound.delete(sender);
  }

  async open(senderSig2: Bytes, p: { room: string; from: string; mid: string; env: EnvelopeV2 }): Promise<OpenedV2> {
    const chain = this.inbound.get(p.from)?.get(p.env.epoch);
    if (!chain) return { ok: false, reason: "no key for this chain (not distributed to this member)" };
    return chain.open(senderSig2, p);
  }
}

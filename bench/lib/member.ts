// A load-generator member: joins a room over a Link with a real hello
// (RSA-PSS proof), then hands frames to the benchmark. Control frames are
// classified by peeking at the `t` the core always writes first, so a
// thousand members do not JSON-parse every `joined` and `welcome`.

import { KIND_AUDIO, KIND_CONTROL, KIND_VIDEO } from "../../protocol/framing";
import { makeHello, type Identity } from "../../protocol/crypto";
import { GroupSession, type GroupSessionPort } from "../../protocol/e2e/groupSession";
import type { RoomKeys } from "../../protocol/e2e/roomSecret";

/** A load-generator member makes its v2 hello only; it never distributes or opens keys. */
const NO_PORT: GroupSessionPort = { sendKeys: () => true, retry: () => {}, log: () => {} };
import { connect, controlFrameOf, type Link, type Target } from "./link";

const T_PREFIX = Buffer.from('{"t":"');

export function peekT(body: Uint8Array): string {
  const b = body as Buffer;
  if (b.length > 8 && Buffer.prototype.equals.call(b.subarray(0, 6), T_PREFIX)) {
    const end = b.indexOf(0x22, 6);
    if (end > 6) return b.toString("latin1", 6, end);
  }
  try {
    return String((JSON.parse(Buffer.from(b).toString("utf8")) as { t?: unknown }).t);
  } catch {
    return "?";
  }
}

export function parseBody<T = Record<string, unknown>>(body: Uint8Array): T {
  return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString("utf8")) as T;
}

export interface JoinTiming {
  /** challenge received -> welcome received, ms (client signing included). */
  setupMs: number;
  /** hello written -> welcome received, ms (what the core and the path add). */
  serverMs: number;
  /** connect() -> welcome, ms. */
  totalMs: number;
}

export interface Member {
  link: Link;
  identity: Identity;
  name: string;
  timing: JoinTiming;
  /** Control frame other than ping; `t` peeked. */
  onControl: (t: string, body: Buffer) => void;
  /** VIDEO frames: a view of the chunk header (first <= 16 bytes, valid during the call) and the body's length. */
  onVideo: (head: Buffer, length: number) => void;
  /** AUDIO frames (only for members joined with caps ["audio"]), as onVideo. */
  onAudio: (head: Buffer, length: number) => void;
  /** Fatal `error` frames seen (e.g. rate_limited, reader too slow). */
  errors: string[];
  send(msg: object): void;
  close(): void;
}

/** `v2`: the room link's keys; the member sends a v2 hello (protocol v2, docs/protocol.md section 12). */
export async function joinMember(
  target: Target,
  identity: Identity,
  room: string,
  name: string,
  timeoutMs = 30_000,
  v2?: RoomKeys,
  caps?: readonly string[],
): Promise<Member> {
  const t0 = performance.now();
  const link = await connect(target, timeoutMs);
  return new Promise((resolve, reject) => {
    let challengeAt = 0;
    let helloAt = 0;
    const timer = setTimeout(() => {
      link.close();
      reject(new Error(`${name}: no welcome in ${timeoutMs} ms`));
    }, timeoutMs);
    const m: Member = {
      link,
      identity,
      name,
      timing: { setupMs: 0, serverMs: 0, totalMs: 0 },
      onControl: () => {},
      onVideo: () => {},
      onAudio: () => {},
      errors: [],
      send: (msg) => link.sendFrame(controlFrameOf(msg)),
      close: () => link.close(),
    };
    link.onClose = () => {
      clearTimeout(timer);
      reject(new Error(`${name}: closed before welcome`));
    };
    link.onFrame = (kind, body) => {
      if (kind !== KIND_CONTROL) return;
      const t = peekT(body);
      if (t === "challenge") {
        challengeAt = performance.now();
        const ch = parseBody<{ nonce: string }>(body);
        void makeHello(identity, { nonce: ch.nonce, room, name, agent: "bench/1", ...(caps ? { caps } : {}) })
          .then((h) => (v2 ? new GroupSession(identity, v2, NO_PORT).hello(h, ch.nonce) : h))
          .then((hello) => {
            helloAt = performance.now();
            m.send(hello);
          }, reject);
      } else if (t === "welcome") {
        const now = performance.now();
        clearTimeout(timer);
        m.timing = { setupMs: now - challengeAt, serverMs: now - helloAt, totalMs: now - t0 };
        link.onClose = () => {};
        link.onFrame = (k, b, n) => {
          if (k === KIND_VIDEO) return m.onVideo(b, n);
          if (k === KIND_AUDIO) return m.onAudio(b, n);
          const tt = peekT(b);
          if (tt === "ping") m.send({ t: "pong", ts: parseBody<{ ts: number }>(b).ts });
          else if (tt === "error") {
            const e = parseBody<{ code: string; fatal: boolean }>(b);
            m.errors.push(e.code);
            m.onControl(tt, b);
          } else m.onControl(tt, b);
        };
        resolve(m);
      } else if (t === "error") {
        clearTimeout(timer);
        link.close();
        reject(new Error(`${name}: refused: ${Buffer.from(body).toString()}`));
      }
    };
  });
}

/**
 * Joins n members into one room, a few at a time (joins broadcast `joined`
 * to everyone already in, so a rush of them is a benchmark of its own).
 */
export async function joinMany(
  target: Target,
  ids: readonly Identity[],
  room: string,
  prefix: string,
  parallel = 16,
  firstIndex = 0,
  v2?: RoomKeys,
  caps?: readonly string[],
): Promise<Member[]> {
  const out: Member[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await joinMember(target, ids[i], room, `${prefix}${firstIndex + i}`, 30_000, v2, caps);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
  return out;
}

/** Keeps members past the core's 45 s idle timeout (clients ping every 15 s). */
export function keepAlive(members: () => Iterable<Member>, everyMs = 10_000): () => void {
  const t = setInterval(() => {
    for (const m of members()) if (!m.link.closed) m.send({ t: "ping", ts: Date.now() });
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}

// Hostile input for the fuzz tests: a seeded generator of frames that are
// random, or valid protocol messages mutated at the JSON level (fields
// dropped, types swapped, huge numbers, long strings, deep nesting,
// prototype-pollution keys) or at the byte level (bit flips, truncation,
// wrong kinds and lengths). Seeded so a failure can be replayed with
// SEALROOM_FUZZ_SEED.

import { KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Fuzz {
  readonly r: () => number;
  constructor(readonly seed: number) {
    this.r = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A JSON value of a random type, some of them nasty, as source text. */
  valueText(): string {
    switch (this.int(22)) {
      case 0:
        return "null";
      case 1:
        return "true";
      case 2:
        return String(this.int(1000));
      case 3:
        return "-1";
      case 4:
        return "1e308";
      case 5:
        return "1e999"; // parses to Infinity
      case 6:
        return "-1e999";
      case 7:
        return "9007199254740993";
      case 8:
        return "4294967296";
      case 9:
        return "0.5";
      case 10:
        return JSON.stringify("x".repeat(this.pick([0, 1, 65, 257, 4097, 70_000, 200_000])));
      case 11:
        return JSON.stringify(String.fromCharCode(...Array.from({ length: 20 }, () => this.int(0x10000))));
      case 12:
        return '"\\ud800\\udfff\\ud800"'; // lone surrogates
      case 13:
        return '"\\u0000\\n\\r\\u202e"';
      case 14:
        return "[]";
      case 15:
        return "{}";
      case 16:
        return this.deep(this.pick([10, 1000, 100_000]));
      case 17:
        return '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}';
      case 18:
        return JSON.stringify(Array.from({ length: this.pick([1, 300, 5000]) }, (_, i) => `A${i}`));
      case 19:
        return '"AAAA"';
      case 20:
        return '"not base64!"';
      default:
        return '"toString"';
    }
  }

  /** Nested arrays or objects `depth` levels deep. */
  deep(depth: number): string {
    return this.chance(0.5) ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  }

  /**
   * A JSON-level mutation of a valid message, as body text. Keeps the
   * message's shape recognisable most of the time so it gets past the
   * first checks and exercises the deeper ones.
   */
  mutateMessage(msg: Record<string, unknown>, soft = false): string {
    const obj: Record<string, unknown> = structuredClone(msg);
    const keys = Object.keys(obj);
    const raw: [string, string][] = keys.map((k) => [k, JSON.stringify(obj[k])]);
    const rounds = 1 + this.int(3);
    for (let i = 0; i < rounds; i++) {
      // Soft mutations keep a JSON object with a string `t` that is not hello or
      // quit: the core answers them with request errors and keeps the session,
      // so every one of them reaches the deeper checks.
      switch (this.int(soft ? 10 : 12)) {
        case 0: {
          // drop a field
          const at = this.int(raw.length);
          if (!soft || raw[at]?.[0] !== "t") raw.splice(at, 1);
          break;
        }
        case 1: // replace a field's value with anything
        case 2:
        case 3: {
          const at = this.int(raw.length);
          if (raw.length && (!soft || raw[at][0] !== "t")) raw[at][1] = this.valueText();
          break;
        }
        case 4: // swap t for another type, known or not
          setField(
            raw,
            "t",
            JSON.stringify(
              this.pick([
                ...(soft ? [] : ["hello", "quit"]),
                "send",
                "play",
                "control",
                "ping",
                "videos",
                "pong",
                "msg",
                "welcome",
                "__proto__",
                "constructor",
                "hasOwnProperty",
                "",
                "x".repeat(300),
              ]),
            ),
          );
          break;
        case 5: // prototype-pollution keys at the top
          raw.push([
            this.pick(["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"]),
            this.valueText(),
          ]);
          break;
        case 6: {
          // duplicate a key (JSON.parse keeps the last)
          const k = raw.length ? raw[this.int(raw.length)][0] : "x";
          if (!soft || k !== "t") raw.push([k, this.valueText()]);
          break;
        }
        case 7: {
          // mutate inside env / keys / to
          const env = obj.env as Record<string, unknown> | undefined;
          if (env && typeof env === "object") {
            const e: [string, string][] = Object.keys(env).map((k) => [k, JSON.stringify(env[k])]);
            const which = this.int(5);
            if (which === 0 && e.length) e[this.int(e.length)][1] = this.valueText();
            else if (which === 1) e.push([this.pick(["__proto__", "constructor"]), this.valueText()]);
            else if (which === 2)
              setField(e, "keys", `{${['"__proto__":"AAAA"', keysOf(env)].filter(Boolean).join(",")}}`);
            else if (which === 3)
              setField(
                e,
                "keys",
                JSON.stringify(
                  Object.fromEntries(
                    Array.from({ length: this.pick([0, 257, 2000]) }, (_, j) => [`id${j}`.padEnd(22, "A"), "AAAA"]),
                  ),
                ),
              );
            else setField(e, "alg", this.valueText());
            setField(raw, "env", objText(e));
          } else {
            setField(
              raw,
              "to",
              this.pick(["[]", '["x"]', "[1]", '["AAAAAAAAAAAAAAAAAAAAAA","AAAAAAAAAAAAAAAAAAAAAA"]', this.deep(50)]),
            );
          }
          break;
        }
        case 8: // numbers at and past their bounds
          setField(
            raw,
            this.pick(["sid", "fromMs", "toMs", "ts", "v"]),
            this.pick(["-1", "0", "4294967295", "4294967296", "1e999", "-0", "0.1", '"5"', "null"]),
          );
          break;
        case 9: // strings at and past their bounds
          setField(
            raw,
            this.pick(["mid", "video", "name", "room", "agent", "action", "scope"]),
            JSON.stringify(
              this.pick([
                "",
                " ",
                "../../etc/passwd",
                "a".repeat(65),
                "a".repeat(256),
                "sample.mp4\u0000",
                "%2e%2e%2f",
                "\u202e",
                "x\ny",
              ]),
            ),
          );
          break;
        case 10: // a long padding field
          raw.push([`pad${this.int(10)}`, JSON.stringify("p".repeat(this.pick([100, 10_000, 300_000])))]);
          break;
        default: // the whole body becomes another JSON type
          return this.pick(["[]", "null", "1", '"t"', "true", this.deep(1000)]);
      }
    }
    return objText(raw);
  }

  /** Byte-level mutation of an encoded frame. May yield several frames or none. */
  mutateBytes(frame: Uint8Array): Uint8Array {
    const b = frame.slice();
    switch (this.int(9)) {
      case 0: {
        // flip bits anywhere
        const flips = 1 + this.int(8);
        for (let i = 0; i < flips; i++) b[this.int(b.length)] ^= 1 << this.int(8);
        return b;
      }
      case 1: // flip bits in the header only
        b[this.int(5)] ^= 1 << this.int(8);
        return b;
      case 2: // truncate
        return b.subarray(0, this.int(b.length));
      case 3: // wrong kind
        b[4] = this.pick([0, KIND_VIDEO, 3, 0x7f, 0xff]);
        return b;
      case 4: {
        // length field lies (shorter, longer, zero, huge)
        const len = this.pick([0, 1, b.length - 5, b.length + 100, 1_048_577, 0xffffffff]);
        new DataView(b.buffer, b.byteOffset).setUint32(0, len >>> 0);
        return b;
      }
      case 5: // garbage appended
        return concat([b, this.bytes(1 + this.int(64))]);
      case 6: // body replaced with random bytes, header kept valid
        return encodeFrame(KIND_CONTROL, this.bytes(this.int(200)));
      case 7: // invalid UTF-8 in the body
        return encodeFrame(KIND_CONTROL, new Uint8Array([0x7b, 0xc3, 0x28, 0xff, 0xfe, 0x7d]));
      default: // pure random bytes
        return this.bytes(1 + this.int(300));
    }
  }
}

export function frameOf(bodyText: string): Uint8Array {
  return encodeFrame(KIND_CONTROL, new TextEncoder().encode(bodyText));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function setField(raw: [string, string][], key: string, valueText: string): void {
  const hit = raw.find(([k]) => k === key);
  if (hit) hit[1] = valueText;
  else raw.push([key, valueText]);
}

function objText(raw: [string, string][]): string {
  return `{${raw.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

function keysOf(env: Record<string, unknown>): string {
  const keys = env.keys as Record<string, string> | undefined;
  return keys ? JSON.stringify(keys).slice(1, -1) : "";
}

// Property-based fuzzing of the pure protocol code with fast-check: the
// streaming frame decoder, body decoding, the message validators of both
// directions and the video chunk assembler. tests/unit/protocol-framing.test.ts
// already checks that any split of valid frames decodes and that garbage only
// ever throws FrameError; these add split-invariance for garbage and errors,
// exact limits, validator totality under mutation, and prototype safety.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isBase64 } from "../../protocol/base64";
import { decodeRaw, parseClientMessage, parseServerMessage, type RawMessage } from "../../protocol/codec";
import { FrameDecoder, FrameError, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";
import { CLIENT_SCHEMAS, SERVER_SCHEMAS, type Envelope } from "../../protocol/messages";
import { ID_RE } from "../../protocol/names";
import { FrameAssembler, writeChunkHeader } from "../../protocol/videoChunk";
import { Fuzz } from "../helpers/fuzz-mutate";
import { LONG } from "../helpers/security-support";

const RUNS = LONG ? 20_000 : 1_000;
const kinds = new Set([KIND_CONTROL, KIND_VIDEO]);
const enc = (s: string) => new TextEncoder().encode(s);

/** Everything a decoder produced from a byte stream: the frames, then the error that stopped it. */
function outcome(chunks: Uint8Array[], maxFrame = 4096): { frames: string[]; error: string | null; pending: boolean } {
  const d = new FrameDecoder({ maxFrame, kinds });
  const frames: string[] = [];
  try {
    for (const c of chunks) d.push(c, (f) => frames.push(`${f.kind}:${Buffer.from(f.body).toString("hex")}`));
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    return { frames, error: e.code, pending: d.pending };
  }
  return { frames, error: null, pending: d.pending };
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

/** Streams of mostly-valid frames with corruption mixed in: more interesting than pure noise. */
const frameStream = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => encodeFrame(KIND_CONTROL, b)),
      fc.uint8Array({ maxLength: 200 }).map((b) => encodeFrame(KIND_VIDEO, b)),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([k, b]) => encodeFrame(k, b)),
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.constantFrom(
        new Uint8Array([0, 0, 0, 0]),
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]),
        new Uint8Array([0, 0, 0x10, 0x02, 1]),
      ),
    ),
    { maxLength: 12 },
  )
  .map((parts) => new Uint8Array(Buffer.concat(parts)));

describe("FrameDecoder properties", () => {
  it("gives the same frames and the same error however the bytes are split", () => {
    fc.assert(
      fc.property(frameStream, fc.array(fc.nat(3000), { maxLength: 12 }), (bytes, cuts) => {
        const whole = outcome([bytes]);
        const split = outcome(splitAt(bytes, cuts));
        expect(split.frames).toEqual(whole.frames);
        expect(split.error).toBe(whole.error);
      }),
      { numRuns: RUNS },
    );
  });

  it("accepts a frame of exactly maxFrame and refuses maxFrame + 1 from the header alone", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5000 }), fc.constantFrom(KIND_CONTROL, KIND_VIDEO), (maxFrame, kind) => {
        const ok = encodeFrame(kind, new Uint8Array(maxFrame - 1));
        expect(outcome([ok], maxFrame)).toMatchObject({ frames: [expect.any(String)], error: null, pending: false });
        const over = encodeFrame(kind, new Uint8Array(maxFrame));
        // Judged from the 4 length bytes: no body needed.
        expect(outcome([over.subarray(0, 4)], maxFrame).error).toBe("too_large");
      }),
      { numRuns: RUNS / 10 },
    );
  });

  it("once broken, stays broken with the same error, and holds nothing", () => {
    fc.assert(
      fc.property(frameStream, fc.uint8Array({ maxLength: 100 }), (bytes, more) => {
        const d = new FrameDecoder({ maxFrame: 4096, kinds });
        let first: FrameError | null = null;
        try {
          d.push(bytes, () => {});
        } catch (e) {
          first = e as FrameError;
        }
        if (!first) return;
        expect(d.pending).toBe(false);
        expect(() => d.push(more, () => {})).toThrow(first);
        expect(() => d.push(encodeFrame(KIND_CONTROL, enc('{"t":"ping","ts":1}')), () => {})).toThrow(first);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("decodeRaw properties", () => {
  it("never throws, and accepts exactly UTF-8 JSON objects with a string t", () => {
    const bodies = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.jsonValue().map((v) => enc(JSON.stringify(v))),
      fc
        .record({ t: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }, { requiredKeys: [] })
        .map((v) => enc(JSON.stringify(v))),
    );
    fc.assert(
      fc.property(bodies, (body) => {
        const r = decodeRaw(body);
        let oracle = false;
        try {
          const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
          const v: unknown = JSON.parse(text);
          oracle =
            typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { t?: unknown }).t === "string";
        } catch {
          oracle = false;
        }
        expect(r.ok).toBe(oracle);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- validators ----------------------------------------------------------------------

const idArb = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const b64Arb = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString("base64"));
const envArb = fc.record({
  alg: fc.constant("RSA-OAEP-256+A256GCM"),
  iv: fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => Buffer.from(b).toString("base64")),
  ct: fc.uint8Array({ minLength: 16, maxLength: 100 }).map((b) => Buffer.from(b).toString("base64")),
  keys: fc.dictionary(idArb, b64Arb, { maxKeys: 4 }),
  sig: b64Arb,
});
const validClient = fc.oneof(
  fc.record({ t: fc.constant("send"), mid: fc.stringMatching(/^[\x21-\x7e]{1,64}$/), env: envArb }),
  fc.record({
    t: fc.constant("send"),
    mid: fc.constant("m1"),
    to: fc.uniqueArray(idArb, { minLength: 1, maxLength: 5 }),
    env: envArb,
  }),
  fc.record({
    t: fc.constant("play"),
    video: fc.string({ minLength: 1, maxLength: 255 }),
    scope: fc.constantFrom("self", "room"),
    fromMs: fc.double({ min: 0, max: 1e9, noNaN: true }),
  }),
  fc.record({
    t: fc.constant("control"),
    sid: fc.integer({ min: 0, max: 0xffffffff }),
    action: fc.constantFrom("pause", "resume", "stop"),
  }),
  fc.record({ t: fc.constant("control"), sid: fc.nat(), action: fc.constant("seek"), toMs: fc.nat() }),
  fc.record({ t: fc.constant("ping"), ts: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  fc.constant({ t: "videos" }),
  fc.constant({ t: "quit" }),
);

/** What any message the validator lets through must satisfy, whatever came in. */
function checkInvariants(msg: Record<string, unknown>): void {
  for (const v of Object.values(msg)) if (typeof v === "number") expect(Number.isFinite(v)).toBe(true);
  if (msg.t === "send") {
    expect(msg.mid).toMatch(/^[\x21-\x7e]{1,64}$/);
    const env = msg.env as { keys: Record<string, string>; iv: string; ct: string; sig: string };
    expect(Object.getPrototypeOf(env.keys) === Object.prototype || Object.getPrototypeOf(env.keys) === null).toBe(true);
    for (const [id, k] of Object.entries(env.keys)) {
      expect(id).toMatch(ID_RE);
      expect(isBase64(k)).toBe(true);
    }
    for (const f of [env.iv, env.ct, env.sig]) expect(isBase64(f)).toBe(true);
    if (msg.to !== undefined) {
      const to = msg.to as string[];
      expect(to.length).toBeGreaterThan(0);
      expect(new Set(to).size).toBe(to.length);
    }
  }
  if (msg.t === "control") {
    expect(Number.isInteger(msg.sid) && (msg.sid as number) >= 0 && (msg.sid as number) <= 0xffffffff).toBe(true);
    if (msg.action === "seek") expect(typeof msg.toMs).toBe("number");
  }
  if (msg.t === "play") expect(["self", "room"]).toContain(msg.scope);
}

describe("message validators", () => {
  it("accept every well-formed client message", () => {
    fc.assert(
      fc.property(validClient, (m) => {
        const r = parseClientMessage(m as RawMessage);
        expect(r.kind).toBe("ok");
      }),
      { numRuns: RUNS },
    );
  });

  it("are total over mutated messages: never throw, and what passes keeps every invariant", () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let ok = 0;
    let invalid = 0;
    fc.assert(
      fc.property(validClient, fc.integer(), (m, seed) => {
        const text = new Fuzz(seed).mutateMessage(m as Record<string, unknown>);
        const raw = decodeRaw(enc(text));
        if (!raw.ok) return;
        const r = parseClientMessage(raw.raw);
        if (r.kind === "ok") {
          ok++;
          checkInvariants(r.msg as unknown as Record<string, unknown>);
        } else if (r.kind === "invalid") {
          invalid++;
          expect(r.message.length).toBeGreaterThan(0);
        } else {
          expect(Object.hasOwn(CLIENT_SCHEMAS, raw.raw.t)).toBe(false);
        }
        // The server schemas see the same garbage when a bridge or server lies to a client.
        expect(["ok", "invalid", "unknown"]).toContain(parseServerMessage(raw.raw).kind);
      }),
      { numRuns: RUNS * 2 },
    );
    // Both sides of the line were reached.
    expect(ok).toBeGreaterThan(0);
    expect(invalid).toBeGreaterThan(0);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("treat prototype names as unknown types and never as schemas", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          "__proto__",
          "constructor",
          "toString",
          "hasOwnProperty",
          "valueOf",
          "prototype",
          "__defineGetter__",
        ),
        (t) => {
          const raw = decodeRaw(enc(`{"t":${JSON.stringify(t)},"__proto__":{"t":"ping","ts":1}}`));
          expect(raw.ok).toBe(true);
          if (!raw.ok) return;
          expect(parseClientMessage(raw.raw).kind).toBe("unknown");
          expect(parseServerMessage(raw.raw).kind).toBe("unknown");
        },
      ),
    );
  });

  it("an env whose keys hold __proto__ or constructor never yields such a key, and pollutes nothing", () => {
    // zod's record drops an own "__proto__" key silently (the validated copy,
    // which is what the core relays, lacks it); "constructor" is refused as
    // not an id. Either way no recipient sees it and the signature, which
    // covered it, no longer verifies.
    const env =
      '{"alg":"RSA-OAEP-256+A256GCM","iv":"AAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAAAA","sig":"AAAA","keys":';
    const id = "A".repeat(22);
    const cases: [string, "ok" | "invalid"][] = [
      ['{"__proto__":"AAAA"}', "ok"],
      ['{"__proto__":{"polluted":"AAAA"}}', "ok"],
      [`{"${id}":"AAAA","__proto__":"AAAA"}`, "ok"],
      ['{"constructor":"AAAA"}', "invalid"],
      ['{"toString":"AAAA"}', "invalid"],
    ];
    for (const [keys, kind] of cases) {
      const raw = decodeRaw(enc(`{"t":"send","mid":"x","env":${env}${keys}}}`));
      expect(raw.ok).toBe(true);
      if (!raw.ok) continue;
      const r = parseClientMessage(raw.raw);
      expect(r.kind).toBe(kind);
      if (r.kind !== "ok" || r.msg.t !== "send") continue;
      expect(Object.keys((r.msg.env as Envelope).keys).every((k) => ID_RE.test(k))).toBe(true);
      expect(Object.hasOwn((r.msg.env as Envelope).keys, "__proto__")).toBe(false);
      expect(Object.getPrototypeOf((r.msg.env as Envelope).keys)).toBe(Object.prototype);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("server messages: any JSON object with a known t either validates or is reported invalid, never throws", () => {
    const ts = Object.keys(SERVER_SCHEMAS);
    fc.assert(
      fc.property(
        fc.constantFrom(...ts),
        fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }),
        (t, fields) => {
          const r = parseServerMessage({ ...fields, t } as RawMessage);
          expect(["ok", "invalid"]).toContain(r.kind);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("FrameAssembler properties", () => {
  const chunk = (sid: number, frame: number, part: number, parts: number, data: Uint8Array) => {
    const b = new Uint8Array(16 + data.length);
    writeChunkHeader(b, { sid, frame, ptsMs: frame * 33, part, parts });
    b.set(data, 16);
    return b;
  };

  it("any chunk sequence: never throws; in-order parts come out joined", () => {
    const chunkArb = fc.oneof(
      fc
        .record({
          sid: fc.nat(3),
          frame: fc.nat(5),
          part: fc.nat(4),
          parts: fc.nat(5),
          data: fc.uint8Array({ maxLength: 20 }),
        })
        .map((c) => chunk(c.sid, c.frame, c.part, c.parts, c.data)),
      fc.uint8Array({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(chunkArb, { maxLength: 40 }), (chunks) => {
        const a = new FrameAssembler();
        for (const c of chunks) {
          const f = a.push(c);
          if (f) expect(f.jpeg).toBeInstanceOf(Uint8Array);
        }
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { minLength: 1, maxLength: 6 }),
        fc.nat(1000),
        (parts, sid) => {
          const a = new FrameAssembler();
          let out: ReturnType<FrameAssembler["push"]> = null;
          parts.forEach((p, i) => (out = a.push(chunk(sid, 7, i, parts.length, p)) ?? out));
          expect(out).not.toBeNull();
          expect(Buffer.from(out!.jpeg)).toEqual(Buffer.concat(parts));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRaw, parseClientMessage } from "../../protocol/codec";
import {
  FrameDecoder,
  FrameError,
  KIND_CONTROL,
  KIND_VIDEO,
  encodeFrame,
  type WireFrame,
} from "../../protocol/framing";
import { FrameAssembler, writeChunkHeader } from "../../protocol/videoChunk";

const kinds = new Set([KIND_CONTROL, KIND_VIDEO]);
const collect = (d: FrameDecoder, chunks: Uint8Array[]) => {
  const out: WireFrame[] = [];
  for (const c of chunks) d.push(c, (f) => out.push({ kind: f.kind, body: f.body.slice() }));
  return out;
};
/** Hex of each body: cheap to compare even for 70 KB frames. */
const hexes = (fs: { body: Uint8Array }[] | Uint8Array[]) =>
  fs.map((f) => Buffer.from("body" in f ? f.body : f).toString("hex"));
const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof FrameError ? e.code : `other: ${e}`;
  }
  return "none";
};

describe("FrameDecoder", () => {
  const frames = [
    new Uint8Array([1, 2, 3]),
    new Uint8Array(0),
    new Uint8Array(70_000).fill(7),
    new TextEncoder().encode('{"t":"x"}'),
  ];
  const wire = new Uint8Array(Buffer.concat(frames.map((b, i) => encodeFrame(i % 2 ? KIND_VIDEO : KIND_CONTROL, b))));

  it("decodes merged frames from one chunk", () => {
    const out = collect(new FrameDecoder({ maxFrame: 1 << 20, kinds }), [wire]);
    expect(out.map((f) => f.body)).toEqual(frames);
    expect(out.map((f) => f.kind)).toEqual([1, 2, 1, 2]);
  });

  it("decodes the same frames split at every byte boundary", () => {
    for (let cut = 1; cut < wire.length; cut += cut < 50 ? 1 : 997) {
      const out = collect(new FrameDecoder({ maxFrame: 1 << 20, kinds }), [wire.subarray(0, cut), wire.subarray(cut)]);
      expect(hexes(out)).toEqual(hexes(frames));
    }
  });

  it("decodes any split of any frames (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(400), { maxLength: 10 }),
        (bodies, cuts) => {
          const w = new Uint8Array(Buffer.concat(bodies.map((b) => encodeFrame(KIND_CONTROL, b))));
          const points = [...new Set(cuts.map((c) => c % (w.length + 1)))].sort((a, b) => a - b);
          const pieces: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, w.length]) {
            pieces.push(w.subarray(prev, p));
            prev = p;
          }
          const d = new FrameDecoder({ maxFrame: 1 << 20, kinds });
          expect(collect(d, pieces).map((f) => f.body)).toEqual(bodies);
          expect(d.pending).toBe(false);
        },
      ),
    );
  });

  it("rejects length 0, unknown kinds and oversize frames as soon as the header shows them", () => {
    const opts = { maxFrame: 1000, kinds: new Set([KIND_CONTROL]) };
    expect(errorOf(() => new FrameDecoder(opts).push(new Uint8Array([0, 0, 0, 0]), () => {}))).toBe("bad_frame");
    expect(errorOf(() => new FrameDecoder(opts).push(new Uint8Array([0, 0, 0, 5, 9]), () => {}))).toBe("bad_frame");
    expect(errorOf(() => new FrameDecoder(opts).push(new Uint8Array([0, 0, 0, 5, KIND_VIDEO]), () => {}))).toBe(
      "bad_frame",
    );
    expect(errorOf(() => new FrameDecoder(opts).push(new Uint8Array([0, 0, 3, 0xe9]), () => {}))).toBe("too_large");
    expect(errorOf(() => new FrameDecoder(opts).push(new Uint8Array([0xff, 0xff, 0xff, 0xff]), () => {}))).toBe(
      "too_large",
    );
    // the header split across reads is still judged
    const d = new FrameDecoder(opts);
    d.push(new Uint8Array([0, 0]), () => {});
    expect(errorOf(() => d.push(new Uint8Array([3, 0xe9]), () => {}))).toBe("too_large");
    // and a broken stream stays broken
    expect(errorOf(() => d.push(encodeFrame(KIND_CONTROL, new Uint8Array(1)), () => {}))).toBe("too_large");
  });

  it("garbage never throws anything but FrameError, and never buffers more than a frame (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 20 }), (chunks) => {
        const d = new FrameDecoder({ maxFrame: 4096, kinds });
        let buffered = 0;
        for (const c of chunks) {
          try {
            d.push(c, () => {});
          } catch (e) {
            expect(e).toBeInstanceOf(FrameError);
            return;
          }
          buffered = (d as unknown as { buffered: number }).buffered;
          expect(buffered).toBeLessThanOrEqual(4096 + 4);
        }
      }),
    );
  });
});

describe("decodeRaw and message validation", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  it("stages bad_json: UTF-8, JSON, object, string t", () => {
    expect(decodeRaw(new Uint8Array([0xc3, 0x28])).ok).toBe(false);
    expect(decodeRaw(enc("nope")).ok).toBe(false);
    expect(decodeRaw(enc("null")).ok).toBe(false);
    expect(decodeRaw(enc("[]")).ok).toBe(false);
    expect(decodeRaw(enc('{"t":1}')).ok).toBe(false);
    expect(decodeRaw(enc('{"t":"ping","ts":1}'))).toEqual({ ok: true, raw: { t: "ping", ts: 1 } });
  });
  it("separates unknown types from invalid known ones", () => {
    expect(parseClientMessage({ t: "nope" }).kind).toBe("unknown");
    expect(parseClientMessage({ t: "toString" }).kind).toBe("unknown");
    expect(parseClientMessage({ t: "__proto__" }).kind).toBe("unknown");
    expect(parseClientMessage({ t: "ping", ts: "1" }).kind).toBe("invalid");
    expect(parseClientMessage({ t: "control", sid: 1, action: "seek" }).kind).toBe("invalid");
    expect(parseClientMessage({ t: "control", sid: 1, action: "seek", toMs: 5 }).kind).toBe("ok");
  });
});

describe("FrameAssembler", () => {
  const chunk = (sid: number, frame: number, part: number, parts: number, data: number[]) => {
    const b = new Uint8Array(16 + data.length);
    writeChunkHeader(b, { sid, frame, ptsMs: frame * 33, part, parts });
    b.set(data, 16);
    return b;
  };
  it("joins parts in order and drops a frame cut short by a later one", () => {
    const a = new FrameAssembler();
    expect(a.push(chunk(1, 0, 0, 2, [1, 2]))).toBeNull();
    expect(a.push(chunk(1, 0, 1, 2, [3]))).toMatchObject({
      sid: 1,
      frame: 0,
      ptsMs: 0,
      jpeg: new Uint8Array([1, 2, 3]),
    });
    expect(a.push(chunk(1, 1, 0, 2, [4]))).toBeNull();
    expect(a.push(chunk(1, 2, 0, 1, [5]))).toMatchObject({ frame: 2, jpeg: new Uint8Array([5]) });
    expect(a.push(chunk(1, 1, 1, 2, [6]))).toBeNull(); // late part of a dropped frame
    expect(a.push(chunk(1, 3, 1, 2, [6]))).toBeNull(); // part without its beginning
    expect(a.push(new Uint8Array(10))).toBeNull();
    expect(a.push(chunk(1, 3, 2, 2, []))).toBeNull(); // part >= parts
  });
});

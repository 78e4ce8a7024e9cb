// The bench's skimming frame reader (bench/lib/skim.ts) reports the same
// frames, chunk headers and lengths as a full decode, however the stream is
// split across reads, for both the length-prefixed and the WebSocket framing.

import { describe, expect, it } from "vitest";
import { HEAD_BYTES, SkimReader, type Framing } from "../../bench/lib/skim";
import { KIND_AUDIO, KIND_CONTROL, KIND_VIDEO } from "../../protocol/framing";

type Seen = [kind: number, head: string, length: number];

function body(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const FRAMES: [number, Buffer][] = [
  [KIND_CONTROL, Buffer.from('{"t":"challenge","nonce":"abc"}')],
  [KIND_VIDEO, body(16, 1)],
  [KIND_VIDEO, body(9, 2)],
  [KIND_AUDIO, body(200, 3)],
  [KIND_VIDEO, body(70_000, 4)],
  [KIND_CONTROL, Buffer.alloc(0)],
  [KIND_VIDEO, body(300, 5)],
  [KIND_VIDEO, Buffer.alloc(0)],
  [KIND_CONTROL, Buffer.from('{"t":"stream","sid":7}')],
];

function lengthFramed(kind: number, b: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length + 1, 0);
  h[4] = kind;
  return Buffer.concat([h, b]);
}

/** An unmasked server WebSocket frame (FIN + opcode) with the given payload. */
function wsFramed(payload: Buffer, opcode = 0x2): Buffer {
  const n = payload.length;
  const h = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126) h[0] = 0x80 | opcode;
  if (n >= 126 && n < 65_536) {
    h[1] = 126;
    h.writeUInt16BE(n, 2);
  } else if (n >= 65_536) {
    h[1] = 127;
    h.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([h, payload]);
}

function stream(framing: Framing): Buffer {
  const parts = FRAMES.map(([k, b]) =>
    framing === "length" ? lengthFramed(k, b) : wsFramed(Buffer.concat([Buffer.from([k]), b])),
  );
  // The reader skips WebSocket control frames (a pong here) between messages.
  if (framing === "ws") parts.splice(2, 0, wsFramed(Buffer.from("pong!"), 0xa));
  return Buffer.concat(parts);
}

const EXPECTED: Seen[] = FRAMES.map(([k, b]) => [
  k,
  (k === KIND_CONTROL ? b : b.subarray(0, HEAD_BYTES)).toString("hex"),
  b.length,
]);

function readAll(framing: Framing, data: Buffer, cuts: number[]): Seen[] {
  const seen: Seen[] = [];
  const r = new SkimReader(framing, 4 * 1_048_576, {
    media: (k, head, n) => seen.push([k, head.toString("hex"), n]),
    control: (b) => seen.push([KIND_CONTROL, b.toString("hex"), b.length]),
  });
  // Reads land in one reused buffer, as with net's onread: nothing may be kept from a previous read.
  const shared = Buffer.alloc(data.length);
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    shared.fill(0xee);
    data.copy(shared, 0, prev, c);
    r.push(shared, 0, c - prev);
    prev = c;
  }
  return seen;
}

describe("bench SkimReader", () => {
  for (const framing of ["length", "ws"] as const) {
    const data = stream(framing);

    it(`${framing}: one read gives every frame's header and length`, () => {
      expect(readAll(framing, data, [])).toEqual(EXPECTED);
    });

    it(`${framing}: split into two reads at every offset of the small frames`, () => {
      for (let c = 1; c < 400; c++) expect(readAll(framing, data, [c])).toEqual(EXPECTED);
    });

    it(`${framing}: byte-sized and random reads`, () => {
      const bytes = Array.from({ length: 600 }, (_, i) => i + 1);
      expect(readAll(framing, data, bytes)).toEqual(EXPECTED);
      let seed = 12345;
      for (let run = 0; run < 50; run++) {
        const cuts: number[] = [];
        let at = 0;
        for (;;) {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          at += 1 + (seed % 5000);
          if (at >= data.length) break;
          cuts.push(at);
        }
        expect(readAll(framing, data, cuts)).toEqual(EXPECTED);
      }
    });
  }

  it("refuses a malformed stream instead of resynchronising", () => {
    const sink = { media: () => {}, control: () => {} };
    const zero = Buffer.from([0, 0, 0, 0, 1]);
    expect(() => new SkimReader("length", 1000, sink).push(zero, 0, 5)).toThrow(/length 0/);
    const kind = lengthFramed(0x09, Buffer.from("x"));
    expect(() => new SkimReader("length", 1000, sink).push(kind, 0, kind.length)).toThrow(/kind/);
    const big = lengthFramed(KIND_VIDEO, Buffer.alloc(2000));
    expect(() => new SkimReader("length", 1000, sink).push(big, 0, big.length)).toThrow(/over 1000/);
    const masked = Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5]);
    expect(() => new SkimReader("ws", 1000, sink).push(masked, 0, masked.length)).toThrow(/masked/);
  });

  it("marks the link closed on a WebSocket close frame", () => {
    const r = new SkimReader("ws", 1000, { media: () => {}, control: () => {} });
    const close = wsFramed(Buffer.from([0x03, 0xe8]), 0x8);
    r.push(close, 0, close.length);
    expect(r.closed).toBe(true);
  });
});

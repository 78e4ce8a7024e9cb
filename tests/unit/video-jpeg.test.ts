import { execFile } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { JpegSplitter, readJpegInfo } from "../../server/video/jpeg";

/** Real ffmpeg MJPEG output of `frames` testsrc2 frames, exactly as the pipeline asks for it. */
function mjpeg(frames: number, size: string): Promise<Buffer> {
  return ffmpegPath().then(
    (bin) =>
      new Promise((resolve, reject) => {
        const args = [
          "-hide_banner",
          "-loglevel",
          "error",
          "-nostdin",
          "-f",
          "lavfi",
          "-i",
          `testsrc2=size=${size}:rate=30`,
          "-frames:v",
          String(frames),
          "-c:v",
          "mjpeg",
          "-q:v",
          "5",
          "-pix_fmt",
          "yuvj420p",
          "-f",
          "image2pipe",
          "pipe:1",
        ];
        execFile(bin, args, { encoding: "buffer", maxBuffer: 64 << 20 }, (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        );
      }),
  );
}

function splitAll(splitter: JpegSplitter, chunks: Buffer[]): Buffer[] {
  return chunks.flatMap((c) => splitter.push(c));
}

function sameImages(got: Buffer[], want: Buffer[]): void {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) expect(got[k].equals(want[k])).toBe(true);
}

let stream: Buffer;
let frames: Buffer[];

beforeAll(async () => {
  stream = await mjpeg(3, "64x36");
  frames = new JpegSplitter().push(stream);
});

describe("JpegSplitter on real ffmpeg output", () => {
  it("finds every frame in one chunk, without copying", () => {
    expect(frames.length).toBe(3);
    expect(Buffer.concat(frames).equals(stream)).toBe(true);
    for (const f of frames) {
      expect(f.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
      expect(f.subarray(-2).equals(Buffer.from([0xff, 0xd9]))).toBe(true);
      // A subarray of the input shares its memory.
      expect(f.buffer).toBe(stream.buffer);
    }
  });

  it("gives the same frames for a split at every byte boundary", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const got = splitAll(new JpegSplitter(), [stream.subarray(0, cut), stream.subarray(cut)]);
      sameImages(got, frames);
    }
  });

  it("gives the same frames when fed one byte at a time", () => {
    const s = new JpegSplitter();
    const bytes: Buffer[] = [];
    for (let k = 0; k < stream.length; k++) bytes.push(stream.subarray(k, k + 1));
    sameImages(splitAll(s, bytes), frames);
    expect(s.pendingBytes).toBe(0);
    expect(s.resyncs).toBe(0);
  });

  it("handles random chunking of a longer 640x360 stream", async () => {
    const big = await mjpeg(30, "640x360");
    const want = new JpegSplitter().push(big);
    expect(want.length).toBe(30);
    let seed = 12345;
    const rand = (max: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return 1 + (seed % max);
    };
    for (let round = 0; round < 20; round++) {
      const chunks: Buffer[] = [];
      for (let p = 0; p < big.length;) {
        const len = rand(round % 2 ? 70_000 : 300);
        chunks.push(big.subarray(p, p + len));
        p += len;
      }
      sameImages(splitAll(new JpegSplitter(), chunks), want);
    }
  });

  it("frames are baseline JPEGs of the requested size", () => {
    for (const f of frames) {
      expect(readJpegInfo(f)).toEqual({ sof: 0xc0, width: 64, height: 36, components: 3 });
    }
  });
});

describe("JpegSplitter marker rules", () => {
  // A thumbnail in an APP1 segment is a complete JPEG with its own EOI.
  function withThumbnail(jpeg: Buffer, thumb: Buffer): Buffer {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(0xffe1, 0);
    header.writeUInt16BE(2 + thumb.length, 2);
    return Buffer.concat([jpeg.subarray(0, 2), header, thumb, jpeg.subarray(2)]);
  }

  it("does not end an image at an EOI inside an APP segment", () => {
    const outer = withThumbnail(frames[0], frames[1]);
    const input = Buffer.concat([outer, frames[2]]);
    for (const cut of [1, 5, 100, outer.length - 1, outer.length + 3]) {
      const got = splitAll(new JpegSplitter(), [input.subarray(0, cut), input.subarray(cut)]);
      sameImages(got, [outer, frames[2]]);
    }
  });

  it("treats FF00 stuffing and RSTn as entropy data, and FFD9 after them as the end", () => {
    const sos = Buffer.from([0xff, 0xda, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
    const entropy = Buffer.from([0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xd7, 0xff, 0x00, 0x78]);
    const img = Buffer.concat([Buffer.from([0xff, 0xd8]), sos, entropy, Buffer.from([0xff, 0xd9])]);
    const input = Buffer.concat([img, img]);
    for (let cut = 0; cut <= input.length; cut++) {
      const s = new JpegSplitter();
      const got = splitAll(s, [input.subarray(0, cut), input.subarray(cut)]);
      sameImages(got, [img, img]);
      expect(s.resyncs).toBe(0);
    }
  });

  it("skips garbage between images and recovers from an image truncated in its scan", () => {
    const truncated = frames[0].subarray(0, frames[0].length - 20);
    const garbage = Buffer.from([0x00, 0xff, 0x12, 0xff, 0xff, 0x34]);
    const input = Buffer.concat([garbage, frames[1], truncated, frames[2], garbage]);
    const s = new JpegSplitter();
    sameImages(splitAll(s, [input]), [frames[1], frames[2]]);
    expect(s.resyncs).toBeGreaterThan(0);
    expect(s.discardedBytes).toBeGreaterThan(0);
  });

  it("drops an image that exceeds the size cap instead of buffering forever", () => {
    const s = new JpegSplitter(frames[0].length + 10);
    const soiOnly = Buffer.concat([
      Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]),
      Buffer.alloc(frames[0].length + 100, 0x11),
    ]);
    expect(s.push(soiOnly)).toEqual([]);
    expect(s.pendingBytes).toBe(0);
    sameImages(s.push(frames[0]), [frames[0]]);
  });
});

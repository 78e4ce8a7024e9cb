// A minimal Ogg Opus writer (RFC 3533 pages, RFC 7845 mapping): the OpusHead
// page, an OpusTags page, then one page per Opus packet with its end granule
// (pts + duration + pre-skip), as the core's demuxer reads them. Pure: bytes
// out, no I/O. The page CRC is the demuxer's (server/audio/ogg.ts).

import { oggCrc } from "../server/audio/ogg";

const VENDOR = "sealroom";

export class OggOpusWriter {
  private seq = 0;
  private readonly serial: number;
  private readonly preSkip: number;

  constructor(
    private readonly head: Uint8Array,
    serial = 0x5ea1,
  ) {
    this.serial = serial >>> 0;
    // OpusHead: "OpusHead", version, channels, pre-skip u16 LE at byte 10.
    this.preSkip = head.length >= 12 ? head[10]! | (head[11]! << 8) : 0;
  }

  /** The two header pages; write them first. */
  headers(): Buffer {
    const tags = Buffer.alloc(8 + 4 + VENDOR.length + 4);
    tags.write("OpusTags", 0, "latin1");
    tags.writeUInt32LE(VENDOR.length, 8);
    tags.write(VENDOR, 12, "latin1");
    tags.writeUInt32LE(0, 12 + VENDOR.length);
    return Buffer.concat([this.page(Buffer.from(this.head), 0n, 0x02), this.page(tags, 0n, 0)]);
  }

  /** One packet's page; pts in 48 kHz samples with pre-skip removed (as on the wire). */
  packet(data: Uint8Array, ptsSamples: number, durationSamples: number, last = false): Buffer {
    const granule = BigInt(Math.max(0, ptsSamples + durationSamples + this.preSkip));
    return this.page(Buffer.from(data.buffer, data.byteOffset, data.length), granule, last ? 0x04 : 0);
  }

  private page(body: Buffer, granule: bigint, type: number): Buffer {
    const lacing: number[] = [];
    let n = body.length;
    while (n >= 255) {
      lacing.push(255);
      n -= 255;
    }
    lacing.push(n);
    if (lacing.length > 255) throw new Error("packet too large for one Ogg page");
    const h = Buffer.alloc(27 + lacing.length);
    h.write("OggS", 0, "latin1");
    h[4] = 0;
    h[5] = type;
    h.writeBigUInt64LE(granule, 6);
    h.writeUInt32LE(this.serial, 14);
    h.writeUInt32LE(this.seq++, 18);
    h.writeUInt32LE(0, 22);
    h[26] = lacing.length;
    lacing.forEach((l, i) => (h[27 + i] = l));
    const page = Buffer.concat([h, body]);
    page.writeUInt32LE(oggCrc(page), 22);
    return page;
  }
}

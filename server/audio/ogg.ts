// Streaming Ogg demuxer for one Ogg Opus logical stream (RFC 3533, RFC 7845):
// bytes in, Opus packets with presentation times out. Corrupt input is a
// returned error value that stops this demuxer only; it never throws.
//
// Over 300 lines: one page parser and its packet reassembly share state page to
// page; split, each half would need the other's.

/** OpusHead fields a decoder needs (RFC 7845 section 5.1). */
export interface OpusHead {
  channels: number;
  preSkip: number;
  inputSampleRate: number;
  outputGainQ8: number;
  mappingFamily: number;
  /** The whole OpusHead packet: WebCodecs' AudioDecoder takes it as `description`. */
  raw: Buffer;
}

export interface OpusPacket {
  /** 0-based index among the audio packets of the stream (OpusHead/OpusTags not counted). */
  seq: number;
  /** Start in 48 kHz samples from the start of the media, pre-skip removed; the first packet is usually -preSkip. */
  ptsSamples: number;
  durationSamples: number;
  /** Convenience: ptsSamples / 48 (may be fractional, may be negative). */
  ptsMs: number;
  data: Buffer;
}

export type OggErrorCode =
  | "bad_capture"
  | "bad_version"
  | "bad_crc"
  | "bad_head"
  | "bad_packet"
  | "multiple_streams"
  | "truncated"
  | "too_large";

export interface OggError {
  code: OggErrorCode;
  message: string;
  /** Byte offset in the stream where the bad page starts. */
  offset: number;
}

export interface DemuxResult {
  packets: OpusPacket[];
  error: OggError | null;
}

const PAGE_HEADER = 27;
/** An Ogg page holds at most 255 segments of 255 bytes. */
const MAX_PAGE = PAGE_HEADER + 255 + 255 * 255;
/** Bound on one packet spanning pages; Opus packets are < 1,275 bytes per frame, 120 ms at most. */
export const MAX_OPUS_PACKET = 64 * 1024;
const FLAG_CONTINUED = 0x01;
const NO_GRANULE = -1n;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32 (poly 0x04c11db7, no reflection, init 0) over a page whose CRC field reads as zero. */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  }
  return crc >>> 0;
}

/** Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 section 3.1); null if malformed. */
export function opusPacketSamples(p: Uint8Array): number | null {
  if (p.length < 1) return null;
  const toc = p[0]!;
  const config = toc >> 3;
  let frame: number;
  if (config < 12) frame = [480, 960, 1920, 2880][config & 3]!;
  else if (config < 16) frame = [480, 960][config & 1]!;
  else frame = [120, 240, 480, 960][config & 3]!;
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 3) {
    if (p.length < 2) return null;
    frames = p[1]! & 0x3f;
    if (frames === 0) return null;
  } else frames = 2;
  const total = frames * frame;
  return total > 5760 ? null : total; // 120 ms is the most a packet may hold
}

export function parseOpusHead(p: Buffer): OpusHead | null {
  if (p.length < 19 || p.toString("latin1", 0, 8) !== "OpusHead") return null;
  const version = p[8]!;
  if (version >> 4 !== 0) return null;
  const channels = p[9]!;
  if (channels === 0) return null;
  return {
    channels,
    preSkip: p.readUInt16LE(10),
    inputSampleRate: p.readUInt32LE(12),
    outputGainQ8: p.readInt16LE(16),
    mappingFamily: p[18]!,
    raw: Buffer.from(p),
  };
}

/**
 * Push bytes as they come (any split); each call returns the packets completed.
 * After an error every later push returns the same error and no packets.
 */
export class OggOpusDemuxer {
  head: OpusHead | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: Buffer[] = [];
  private waitingLen = 0;
  private need = 4;
  private consumed = 0; // stream offset of buf[0]
  private serial: number | null = null;
  private headerPackets = 0; // OpusHead, OpusTags
  private partial: Buffer[] = [];
  private partialLen = 0;
  private seq = 0;
  private failed: OggError | null = null;
  /** Sample position (pre-skip included) where the next packet starts; set from the first granule. */
  private nextStart: number | null = null;
  private pendingNoGranule: Array<{ data: Buffer; dur: number }> = [];

  get error(): OggError | null {
    return this.failed;
  }

  push(bytes: Uint8Array): DemuxResult {
    if (this.failed) return { packets: [], error: this.failed };
    // Chunks wait in a list until a whole step (header, lacing, page) is there,
    // so a trickle of small reads costs one copy per page, not one per read.
    this.waiting.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    this.waitingLen += bytes.length;
    if (this.buf.length + this.waitingLen < this.need) return { packets: [], error: null };
    this.buf = Buffer.concat([this.buf, ...this.waiting]);
    this.waiting = [];
    this.waitingLen = 0;
    const out: OpusPacket[] = [];
    let pos = 0;
    while (!this.failed) {
      const n = this.pageLength(pos);
      if (n === null) break;
      this.page(this.buf.subarray(pos, pos + n), this.consumed + pos, out);
      pos += n;
    }
    this.consumed += pos;
    // Copy the remainder out, so the chunk it came from is not pinned.
    this.buf = Buffer.from(this.buf.subarray(pos));
    this.need = this.bytesNeeded();
    return { packets: out, error: this.failed };
  }

  /** Bytes the buffer must hold before the next page can be parsed. */
  private bytesNeeded(): number {
    const b = this.buf;
    if (b.length < PAGE_HEADER) return PAGE_HEADER;
    const segs = b[26]!;
    if (b.length < PAGE_HEADER + segs) return PAGE_HEADER + segs;
    let body = 0;
    for (let i = 0; i < segs; i++) body += b[PAGE_HEADER + i]!;
    return PAGE_HEADER + segs + body;
  }

  /** The input ended: a half page or a packet left open is `truncated`. */
  end(): DemuxResult {
    if (this.failed) return { packets: [], error: this.failed };
    if (this.waitingLen > 0) {
      // Whatever waits is less than a page: check it, then it is a cut page.
      this.buf = Buffer.concat([this.buf, ...this.waiting]);
      this.waiting = [];
      this.waitingLen = 0;
      if (this.pageLength(0) !== null)
        this.fail("truncated", "internal: a whole page was left unparsed", this.consumed);
    }
    if (this.failed) return { packets: [], error: this.failed };
    if (this.buf.length > 0)
      this.fail("truncated", `stream ends inside a page (${this.buf.length} bytes left)`, this.consumed);
    else if (this.partialLen > 0) this.fail("truncated", "stream ends inside a packet", this.consumed);
    else if (!this.head) this.fail("bad_head", "no OpusHead: not an Ogg Opus stream", 0);
    return { packets: [], error: this.failed };
  }

  private fail(code: OggErrorCode, message: string, offset: number): void {
    this.failed ??= { code, message, offset };
  }

  /** Length of the complete page at pos, or null if more bytes are needed (or on error). */
  private pageLength(pos: number): number | null {
    const b = this.buf;
    const at = this.consumed + pos;
    if (b.length - pos < 4) {
      if (b.length > pos && !"OggS".startsWith(b.toString("latin1", pos)))
        this.fail("bad_capture", "no OggS capture pattern", at);
      return null;
    }
    if (b.toString("latin1", pos, pos + 4) !== "OggS") {
      this.fail("bad_capture", "no OggS capture pattern", at);
      return null;
    }
    if (b.length - pos < PAGE_HEADER) return null;
    if (b[pos + 4] !== 0) {
      this.fail("bad_version", `Ogg version ${b[pos + 4]}`, at);
      return null;
    }
    const segs = b[pos + 26]!;
    if (b.length - pos < PAGE_HEADER + segs) return null;
    let body = 0;
    for (let i = 0; i < segs; i++) body += b[pos + PAGE_HEADER + i]!;
    const n = PAGE_HEADER + segs + body;
    if (n > MAX_PAGE) return null; // cannot happen: 255*255 is the most
    return b.length - pos < n ? null : n;
  }

  private page(page: Buffer, offset: number, out: OpusPacket[]): void {
    const stored = page.readUInt32LE(22);
    if (oggCrc(page) !== stored) return this.fail("bad_crc", "page checksum mismatch", offset);
    const flags = page[5]!;
    const granule = page.readBigInt64LE(6);
    const serial = page.readUInt32LE(14);
    if (this.serial === null) this.serial = serial;
    else if (serial !== this.serial)
      return this.fail("multiple_streams", "a second logical stream (chained or multiplexed Ogg)", offset);
    const segs = page[26]!;
    if (!(flags & FLAG_CONTINUED) && this.partialLen > 0)
      return this.fail("bad_packet", "packet cut off: next page is not a continuation", offset);
    const completed: Buffer[] = [];
    let p = PAGE_HEADER + segs;
    for (let i = 0; i < segs; i++) {
      const lace = page[PAGE_HEADER + i]!;
      this.partial.push(page.subarray(p, p + lace));
      this.partialLen += lace;
      p += lace;
      if (this.partialLen > MAX_OPUS_PACKET)
        return this.fail("too_large", `packet over ${MAX_OPUS_PACKET} bytes`, offset);
      if (lace < 255) {
        completed.push(Buffer.concat(this.partial, this.partialLen));
        this.partial = [];
        this.partialLen = 0;
      }
    }
    const audio: Array<{ data: Buffer; dur: number }> = [];
    for (const pkt of completed) {
      if (this.headerPackets === 0) {
        const head = parseOpusHead(pkt);
        if (!head) return this.fail("bad_head", "first packet is not a valid OpusHead", offset);
        this.head = head;
        this.headerPackets = 1;
        continue;
      }
      if (this.headerPackets === 1) {
        if (pkt.toString("latin1", 0, 8) !== "OpusTags")
          return this.fail("bad_head", "second packet is not OpusTags", offset);
        this.headerPackets = 2;
        continue;
      }
      const dur = opusPacketSamples(pkt);
      if (dur === null) return this.fail("bad_packet", `malformed Opus packet (${pkt.length} bytes)`, offset);
      audio.push({ data: pkt, dur });
    }
    if (audio.length === 0) return;
    if (granule === NO_GRANULE) {
      // Only possible when no packet ends on this page; kept for the next granule.
      this.pendingNoGranule.push(...audio);
      return;
    }
    const all = [...this.pendingNoGranule, ...audio];
    this.pendingNoGranule = [];
    let start: number;
    if (this.nextStart === null) {
      // First audio page: its granule is the end of its last packet (RFC 7845 section 4).
      const sum = all.reduce((s, a) => s + a.dur, 0);
      start = Number(granule) - sum;
      // A first page may end before its packets do only on the last page (end trimming).
      if (start < 0) start = 0;
    } else start = this.nextStart;
    const preSkip = this.head!.preSkip;
    for (const a of all) {
      const pts = start - preSkip;
      out.push({ seq: this.seq++, ptsSamples: pts, durationSamples: a.dur, ptsMs: pts / 48, data: a.data });
      start += a.dur;
    }
    this.nextStart = start;
  }
}

/** Demuxes a whole buffer at once (tests, files on disk). */
export function demuxOggOpus(bytes: Uint8Array): {
  head: OpusHead | null;
  packets: OpusPacket[];
  error: OggError | null;
} {
  const d = new OggOpusDemuxer();
  const a = d.push(bytes);
  const b = d.end();
  return { head: d.head, packets: a.packets, error: a.error ?? b.error };
}

// The AUDIO frame body (kind 0x03, docs/protocol.md 5a): a 16-byte header and
// one whole Opus packet. The core writes the header once per stream and
// packet; clients read it here. Browser-safe: no node: imports.

export const AUDIO_PACKET_HEADER = 16;
/** flags bit 0: the first packet after a start, seek, resume or track change. */
export const AUDIO_FLAG_DISCONTINUITY = 1;

export interface AudioPacketHeader {
  sid: number;
  /** Per (stream, track), +1 per packet sent. */
  seq: number;
  /** Presentation time in 48 kHz samples, pre-skip removed (stream time 0 = video pts 0). */
  ptsSamples: number;
  track: number;
  flags: number;
  durationSamples: number;
}

export function writeAudioHeader(out: Uint8Array, h: AudioPacketHeader, offset = 0): void {
  const v = new DataView(out.buffer, out.byteOffset + offset, AUDIO_PACKET_HEADER);
  v.setUint32(0, h.sid >>> 0);
  v.setUint32(4, h.seq >>> 0);
  v.setInt32(8, h.ptsSamples | 0);
  v.setUint8(12, h.track & 0xff);
  v.setUint8(13, h.flags & 0xff);
  v.setUint16(14, Math.min(0xffff, Math.max(0, h.durationSamples)));
}

/** Null when the body is too short or carries no packet. */
export function readAudioPacket(body: Uint8Array): { header: AudioPacketHeader; data: Uint8Array } | null {
  if (body.length <= AUDIO_PACKET_HEADER) return null;
  const v = new DataView(body.buffer, body.byteOffset, AUDIO_PACKET_HEADER);
  const header: AudioPacketHeader = {
    sid: v.getUint32(0),
    seq: v.getUint32(4),
    ptsSamples: v.getInt32(8),
    track: v.getUint8(12),
    flags: v.getUint8(13),
    durationSamples: v.getUint16(14),
  };
  if (header.durationSamples === 0) return null;
  return { header, data: body.subarray(AUDIO_PACKET_HEADER) };
}

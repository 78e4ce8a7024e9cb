// The sound of one stream in the page: the core's `audio` info (re)configures
// a WebCodecs Opus decoder, each packet is decoded and scheduled through
// AudioOutput against the same stream clock as the canvas (anchor + pts +
// playout delay, mapped to local time by the clock sync). Owns no timers.

import { AudioOutput } from "./audioOutput";
import { createOpusDecoder, type OpusDecoderPort } from "./opusDecoder";
import type { CoreClock, StreamClock } from "./playout";

export interface SoundInfo {
  track: number | null;
  head: Uint8Array | null;
  reason: string | null;
}

export interface SoundPacket {
  track: number;
  ptsSamples: number;
  durationSamples: number;
  data: Uint8Array;
}

export interface SoundStats {
  bufferedMs: number;
  scheduled: number;
  dropped: number;
  blocked: boolean;
  /** Heard minus due for the last scheduled packet, ms. */
  lateMs: number;
  errors: number;
}

export class StreamSound {
  readonly output: AudioOutput;
  private decoder: OpusDecoderPort | null = null;
  private track: number | null = null;
  /**
   * Packets given to the decoder and not yet out, in order (Opus decodes one
   * packet to one AudioData). Their pts is the truth: the decoder's output
   * timestamps count samples from its first input, which a skipped packet
   * or a discontinuity would shift.
   */
  private inFlight: { endMs: number }[] = [];
  errors = 0;
  lastError: string | null = null;

  constructor(
    /** The stream clock now, or null while paused / not yet known (packets are then dropped). */
    private readonly clock: () => StreamClock | null,
    private readonly core: CoreClock,
    output?: AudioOutput,
  ) {
    this.output = output ?? new AudioOutput();
  }

  info(i: SoundInfo): void {
    this.output.flush();
    this.decoder?.close();
    this.decoder = null;
    this.inFlight = [];
    this.track = i.track;
    if (i.track === null || !i.head) return;
    this.decoder = createOpusDecoder(
      i.head,
      (d) => {
        const p = this.inFlight.shift();
        const c = this.clock();
        // End-aligned: the first packet's pre-skip is trimmed from its start.
        if (c && p) this.output.play(d, c, this.core, p.endMs - (d.numberOfFrames / d.sampleRate) * 1000);
        else d.close();
      },
      (e) => {
        this.errors++;
        this.lastError = e.message;
      },
    );
  }

  packet(p: SoundPacket): void {
    if (!this.decoder || p.track !== this.track || !this.clock()) return;
    this.inFlight.push({ endMs: (p.ptsSamples + p.durationSamples) / 48 });
    if (this.inFlight.length > 200) this.inFlight.shift(); // a decoder that stopped answering: stay bounded
    this.decoder.decode({ data: p.data, ptsSamples: p.ptsSamples, durationSamples: p.durationSamples });
  }

  /** Pause, seek, resume: what is scheduled is silenced; decoding starts over. */
  reset(): void {
    this.output.flush();
    this.decoder?.reset();
    this.inFlight = [];
  }

  stats(): SoundStats {
    const s = this.output.stats();
    return { ...s, lateMs: this.output.lastLateMs, errors: this.errors };
  }

  async close(): Promise<void> {
    this.decoder?.close();
    this.decoder = null;
    await this.output.close();
  }
}

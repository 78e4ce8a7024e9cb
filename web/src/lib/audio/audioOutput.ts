// Thin Web Audio adapter: one AudioContext per player, a gain for volume and
// mute, decoded AudioData scheduled through the pure PlayoutScheduler, and
// the autoplay state (a context that starts 'suspended' needs a click).

import { audioPrefs, gainFor } from "./audioPrefs";
import {
  contextTimeFor,
  heardLocalMs,
  PlayoutScheduler,
  presentLocalMs,
  type CoreClock,
  type ContextNow,
  type OutputStamp,
  type StreamClock,
} from "./playout";

export interface AudioOutputStats {
  scheduled: number;
  dropped: number;
  bufferedMs: number;
  /** true while the browser blocks sound until a user gesture. */
  blocked: boolean;
}

export class AudioOutput {
  readonly ctx: AudioContext;
  readonly gain: GainNode;
  private readonly scheduler = new PlayoutScheduler();
  private sources = new Set<AudioBufferSourceNode>();
  private volume = audioPrefs.volume;
  private muted = audioPrefs.muted;
  scheduled = 0;
  dropped = 0;
  /** Heard minus due (ms) of the last scheduled buffer: the audio side of the A/V offset. */
  lastLateMs = 0;
  /** Called when the blocked flag changes, for the UI's notice. */
  onBlockedChange: ((blocked: boolean) => void) | null = null;

  constructor(ctx?: AudioContext) {
    this.ctx = ctx ?? new AudioContext({ sampleRate: 48_000, latencyHint: "interactive" });
    this.gain = this.ctx.createGain();
    this.gain.gain.value = gainFor(this.volume, this.muted);
    this.gain.connect(this.ctx.destination);
    this.ctx.addEventListener("statechange", () => this.onBlockedChange?.(this.blocked));
  }

  /** Autoplay detection: a context the page may not start yet. */
  get blocked(): boolean {
    return this.ctx.state === "suspended";
  }

  /** Call from a click handler: a user gesture lets the context start. */
  async resume(): Promise<boolean> {
    try {
      await this.ctx.resume();
    } catch {
      /* still blocked */
    }
    return !this.blocked;
  }

  setVolume(v: number): void {
    this.volume = Math.min(1, Math.max(0, v));
    audioPrefs.volume = this.volume;
    this.gain.gain.setTargetAtTime(gainFor(this.volume, this.muted), this.ctx.currentTime, 0.01);
  }

  setMuted(m: boolean): void {
    this.muted = m;
    audioPrefs.muted = m;
    this.gain.gain.setTargetAtTime(gainFor(this.volume, this.muted), this.ctx.currentTime, 0.01);
  }

  private stamp(): OutputStamp | null {
    const ts = this.ctx.getOutputTimestamp?.();
    return ts && typeof ts.contextTime === "number" && typeof ts.performanceTime === "number"
      ? { contextTime: ts.contextTime, performanceTime: ts.performanceTime }
      : null;
  }

  private now(): ContextNow {
    return {
      currentTime: this.ctx.currentTime,
      perfNow: performance.now(),
      latencyS: (this.ctx.outputLatency || 0) + (this.ctx.baseLatency || 0),
    };
  }

  /** Local ms at which context time t is heard. */
  heardAt(contextTime: number): number {
    return heardLocalMs(contextTime, this.stamp(), this.now());
  }

  /** Schedules one decoded AudioData (timestamp = pts µs) against the stream clock; closes it. */
  play(data: AudioData, clock: StreamClock, core: CoreClock, ptsMsOverride?: number): void {
    const frames = data.numberOfFrames;
    const buf = this.ctx.createBuffer(data.numberOfChannels, frames, data.sampleRate);
    for (let c = 0; c < data.numberOfChannels; c++) {
      const plane = new Float32Array(frames);
      data.copyTo(plane, { planeIndex: c, format: "f32-planar" });
      buf.copyToChannel(plane, c);
    }
    const ptsMs = ptsMsOverride ?? data.timestamp / 1000;
    data.close();
    const target = contextTimeFor(presentLocalMs(ptsMs, clock, core), this.stamp(), this.now());
    const d = this.scheduler.place(target, buf.duration, this.ctx.currentTime);
    if (d.action === "drop") {
      this.dropped++;
      return;
    }
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.gain);
    src.onended = () => this.sources.delete(src);
    this.sources.add(src);
    src.start(d.when, d.offsetS);
    this.scheduled++;
    this.lastLateMs = this.heardAt(d.when) - presentLocalMs(ptsMs + d.offsetS * 1000, clock, core);
  }

  /** Pause, seek, stop: silence now and forget continuity. */
  flush(): void {
    for (const s of this.sources) {
      try {
        s.stop();
      } catch {
        /* not started */
      }
    }
    this.sources.clear();
    this.scheduler.reset();
  }

  stats(): AudioOutputStats {
    return {
      scheduled: this.scheduled,
      dropped: this.dropped,
      bufferedMs: this.scheduler.bufferedS(this.ctx.currentTime) * 1000,
      blocked: this.blocked,
    };
  }

  async close(): Promise<void> {
    this.flush();
    await this.ctx.close().catch(() => undefined);
  }
}

// --record DIR, the sound: each stream's audio as DIR/<sid>.opus (an Ogg
// Opus file any player opens; a track change starts DIR/<sid>-t<track>.opus).
// Writes are streamed and bounded: when the disk cannot keep up, packets are
// skipped (and counted) rather than queued without limit.

import { createWriteStream, type WriteStream } from "node:fs";
import path from "node:path";
import { OggOpusWriter } from "./oggWriter";

/** Bytes waiting for the disk per file past which packets are skipped. */
const MAX_PENDING_BYTES = 1024 * 1024;

interface Open {
  file: string;
  track: number;
  out: WriteStream;
  ogg: OggOpusWriter;
}

export class AudioRecorder {
  private files = new Map<number, Open>();
  private started = new Set<string>();
  skipped = 0;
  written = 0;

  constructor(
    readonly dir: string,
    private readonly onError: (message: string) => void,
  ) {}

  static fileName(sid: number, track: number, first: boolean): string {
    return first ? `${sid}.opus` : `${sid}-t${track}.opus`;
  }

  /** The stream's track (re)starts with this OpusHead; returns the file written to, or null (no sound). */
  start(sid: number, track: number | null, head: Uint8Array | null): string | null {
    this.end(sid);
    if (track === null || !head) return null;
    const first = !this.started.has(String(sid));
    this.started.add(String(sid));
    const file = path.join(this.dir, AudioRecorder.fileName(sid, track, first));
    const out = createWriteStream(file);
    out.on("error", (e) => this.onError(`cannot write ${file}: ${e.message}`));
    const ogg = new OggOpusWriter(head, sid);
    out.write(ogg.headers());
    this.files.set(sid, { file, track, out, ogg });
    return file;
  }

  packet(sid: number, track: number, data: Uint8Array, ptsSamples: number, durationSamples: number): void {
    const f = this.files.get(sid);
    if (!f || f.track !== track) return;
    if (f.out.writableLength > MAX_PENDING_BYTES) {
      this.skipped++;
      return;
    }
    f.out.write(f.ogg.packet(data, ptsSamples, durationSamples));
    this.written++;
  }

  end(sid: number): void {
    const f = this.files.get(sid);
    if (!f) return;
    this.files.delete(sid);
    f.out.end();
  }

  /** Ends every file and waits until they are on disk (at exit). */
  async flush(timeoutMs = 2_000): Promise<void> {
    const waits = [...this.files.values()].map((f) => new Promise<void>((r) => f.out.end(r)));
    this.files.clear();
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, timeoutMs))]);
  }
}

// --record DIR: every complete frame as DIR/<sid>-<frame 6 digits>.jpg.
// Writes are asynchronous and bounded; when the disk cannot keep up frames
// are skipped (and counted) rather than queued without limit.

import { promises as fs } from "node:fs";
import path from "node:path";
import { AudioRecorder } from "./audioRecorder";

export class FrameRecorder {
  private inFlight = 0;
  skipped = 0;
  written = 0;
  /** The sound beside the frames: DIR/<sid>.opus. */
  readonly audio: AudioRecorder;

  constructor(
    readonly dir: string,
    private readonly onError: (message: string) => void,
    private readonly maxInFlight = 32,
  ) {
    this.audio = new AudioRecorder(dir, onError);
  }

  static fileName(sid: number, frame: number): string {
    return `${sid}-${String(frame).padStart(6, "0")}.jpg`;
  }

  /** Returns the path written to, or null when skipped. */
  write(sid: number, frame: number, jpeg: Uint8Array): string | null {
    if (this.inFlight >= this.maxInFlight) {
      this.skipped++;
      return null;
    }
    const file = path.join(this.dir, FrameRecorder.fileName(sid, frame));
    this.inFlight++;
    fs.writeFile(file, jpeg)
      .then(() => this.written++)
      .catch((e: Error) => this.onError(`cannot write ${file}: ${e.message}`))
      .finally(() => this.inFlight--);
    return file;
  }

  /** Waits for writes in progress (at exit). */
  async flush(timeoutMs = 2_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.audio.flush(Math.max(0, deadline - Date.now()));
  }
}

// Free space on the frame cache's filesystem, so spilling never fills the
// disk. statfs is asynchronous and the spill decision is not, so the answer
// comes from the last statfs (at most a second old) minus what was spilled
// since; below the floor it says no, with one warning until space returns.

import { statfs } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../log";

const RECHECK_MS = 1000;

export class FreeSpace {
  private free: number | null = null;
  private spent = 0;
  private checkedAt = 0;
  private checking: Promise<void> | null = null;
  private low = false;

  constructor(
    private readonly dir: string,
    private readonly floor: number,
    private readonly logger: Logger,
  ) {}

  /** Resolves once a first figure is known (or could not be had). */
  check(): Promise<void> {
    this.checking ??= this.measure().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  /** May `bytes` more be written now? Counts them against the free space when yes. */
  allows(bytes: number): boolean {
    if (Date.now() - this.checkedAt > RECHECK_MS) void this.check();
    // Unknown (statfs failed): do not write to a disk we cannot measure.
    const ok = this.free !== null && this.free - this.spent - bytes >= this.floor;
    if (ok) this.spent += bytes;
    else if (!this.low) {
      this.low = true;
      this.logger.warn(
        { dir: this.dir, freeBytes: this.free === null ? null : this.free - this.spent, minFreeDiskBytes: this.floor },
        "frame cache: disk free space below the floor, frames stay in memory (bounded by the decode window) until space returns",
      );
    }
    return ok;
  }

  private async measure(): Promise<void> {
    // The cache dir may not exist yet: measure the nearest directory that does.
    let dir = this.dir;
    for (;;) {
      try {
        const s = await statfs(dir);
        this.free = Number(s.bavail) * Number(s.bsize);
        break;
      } catch {
        const up = dirname(dir);
        if (up === dir) {
          this.free = null;
          break;
        }
        dir = up;
      }
    }
    this.spent = 0;
    this.checkedAt = Date.now();
    if (this.low && this.free !== null && this.free >= this.floor) {
      this.low = false;
      this.logger.info({ dir: this.dir, freeBytes: this.free }, "frame cache: disk free space back above the floor");
    }
  }
}

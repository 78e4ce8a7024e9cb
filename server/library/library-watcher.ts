// Tells the core when the library folder changed, once per burst: fs.watch
// for promptness, a debounce so copying a 2 GB file is one event and not two
// thousand, and a periodic rescan for file systems where fs.watch is silent
// (network mounts, some containers). An event is only emitted when a snapshot
// of the folder (names, sizes, mtimes of videos and subtitles) really differs.

import { watch, type FSWatcher } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { VIDEO_EXTENSIONS } from "../video/catalogue";
import type { Logger } from "../log";
import { LIBRARY_DEFAULTS } from "./limits";
import { SUBTITLE_EXTENSIONS } from "./sidecars";

export interface LibraryWatcherOptions {
  dir: string;
  logger: Logger;
  /** Called once per burst of changes. */
  onChanged: () => void;
  debounceMs?: number;
  rescanMs?: number;
  /** false: rely on the rescan alone (what happens where fs.watch is unsupported). */
  useFsWatch?: boolean;
}

/** What the catalogue would see: relevant entries with size and mtime, one line each, sorted. */
export async function librarySnapshot(dir: string): Promise<string> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return `unreadable ${(err as NodeJS.ErrnoException).code ?? ""}`;
  }
  const lines: string[] = [];
  for (const name of names.sort()) {
    const ext = extname(name).slice(1).toLowerCase();
    if (name.startsWith(".") || !(VIDEO_EXTENSIONS.has(ext) || SUBTITLE_EXTENSIONS.has(ext))) continue;
    const st = await stat(join(dir, name)).catch(() => null);
    lines.push(st ? `${name}\t${st.size}\t${Math.trunc(st.mtimeMs)}` : `${name}\t-`);
  }
  return lines.join("\n");
}

export class LibraryWatcher {
  private readonly o: Required<Omit<LibraryWatcherOptions, "logger" | "onChanged">> &
    Pick<LibraryWatcherOptions, "logger" | "onChanged">;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private rescan: NodeJS.Timeout | null = null;
  private last: string | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private closed = false;
  /** "changed" events emitted, for stats and tests. */
  emitted = 0;

  constructor(o: LibraryWatcherOptions) {
    this.o = {
      debounceMs: LIBRARY_DEFAULTS.watchDebounceMs,
      rescanMs: LIBRARY_DEFAULTS.watchRescanMs,
      useFsWatch: true,
      ...o,
    };
  }

  /** Takes the first snapshot (no event for it), then watches. */
  async start(): Promise<void> {
    this.last = await librarySnapshot(this.o.dir);
    if (this.closed) return;
    if (this.o.useFsWatch) this.startFsWatch();
    this.rescan = setInterval(() => this.poke(0), this.o.rescanMs);
    this.rescan.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
  }

  private startFsWatch(): void {
    try {
      this.watcher = watch(this.o.dir, { persistent: false }, () => this.poke(this.o.debounceMs));
      this.watcher.on("error", (err) => {
        // The folder went away or the watch broke: the rescan keeps working.
        this.o.logger.warn({ dir: this.o.dir, err: err.message }, "library watch failed; rescanning only");
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (err) {
      this.o.logger.warn(
        { dir: this.o.dir, err: (err as Error).message },
        "library watch unavailable; rescanning only",
      );
    }
  }

  /** Each event restarts the quiet period; the check runs when the burst is over. */
  private poke(delayMs: number): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.check();
    }, delayMs);
  }

  private async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        const now = await librarySnapshot(this.o.dir);
        if (this.closed) return;
        if (now !== this.last) {
          this.last = now;
          this.emitted++;
          try {
            this.o.onChanged();
          } catch (err) {
            this.o.logger.warn({ err: (err as Error).message }, "library change listener failed");
          }
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }
}

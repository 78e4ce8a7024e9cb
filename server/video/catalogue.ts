// The video library: a directory whose playable files are the catalogue. A
// client names a video by id, and the id must only ever select one of those
// directory entries, so every lookup goes through the same entry check that
// list() uses instead of joining a client string onto a path and hoping.

import type { Dirent } from "node:fs";
import { readdir, realpath } from "node:fs/promises";
import { extname } from "node:path";
import { checkLibraryEntry } from "../library/library-entry";
import { probeVideo } from "./probe";
import type { ProbeResult } from "./probe";
import type { VideoInfo } from "./types";
import type { Logger } from "../log";

export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set(["mp4", "mkv", "webm", "mov", "m4v", "avi"]);

export interface CatalogueOptions {
  dir: string;
  logger: Logger;
  /** Injectable so tests can count probes; defaults to ffprobe. */
  probe?: (path: string) => Promise<ProbeResult>;
}

export interface ResolvedVideo {
  info: VideoInfo;
  /** Real path of the file, safe to hand to ffmpeg. */
  path: string;
  /** Changes when the file's content may have changed; use it as the frame cache key. */
  key: string;
}

const ID_MAX_LENGTH = 255;

/**
 * Syntax check for an id. It only narrows what reaches the filesystem; the
 * authority is that the name is an entry of the library directory.
 */
export function isPlausibleId(id: unknown): id is string {
  if (typeof id !== "string" || id.length === 0 || id.length > ID_MAX_LENGTH) return false;
  if (/[/\\\0]/.test(id)) return false;
  // Dotfiles include "." and ".."; hidden files are not part of a library either.
  if (id.startsWith(".")) return false;
  return VIDEO_EXTENSIONS.has(extname(id).slice(1).toLowerCase());
}

/** "my_holiday-2019.mp4" -> "My holiday 2019". */
export function titleFromId(id: string): string {
  const stem = id.slice(0, id.length - extname(id).length);
  const words = stem
    .replace(/[_\-.]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (words.length === 0) return id;
  return words[0].toUpperCase() + words.slice(1);
}

interface Entry {
  path: string;
  size: number;
  mtimeMs: number;
}

type Checked = { ok: true; entry: Entry } | { ok: false; why: string };

interface CacheSlot {
  size: number;
  mtimeMs: number;
  result: Promise<ProbeResult>;
}

export class Catalogue {
  readonly dir: string;
  private readonly logger: Logger;
  private readonly probe: (path: string) => Promise<ProbeResult>;
  private readonly probes = new Map<string, CacheSlot>();
  private realDir: Promise<string> | null = null;

  constructor(opts: CatalogueOptions) {
    this.dir = opts.dir;
    this.logger = opts.logger;
    this.probe = opts.probe ?? probeVideo;
  }

  /** Rescans the directory every call, so files added or removed while running are seen. */
  async list(): Promise<VideoInfo[]> {
    return (await this.listResolved()).map((r) => r.info);
  }

  /** list() with each video's real path and version key (what subtitles and posters need). */
  async listResolved(): Promise<ResolvedVideo[]> {
    const names = (await this.readNames()).filter(isPlausibleId).sort();
    // Sequential: probes are cached, and a cold library scan should not fork one ffprobe per file at once.
    const items: ResolvedVideo[] = [];
    for (const name of names) {
      const info = await this.lookup(name);
      if (info) items.push(info);
    }
    // Forget probes of files that are gone, so the cache cannot grow without bound.
    const present = new Set(names);
    for (const name of this.probes.keys()) if (!present.has(name)) this.probes.delete(name);
    return items;
  }

  /** The video with this id, or null for anything that is not a playable entry right now. */
  async resolve(id: unknown): Promise<ResolvedVideo | null> {
    if (!isPlausibleId(id)) return null;
    // Exact membership in the listing, not just "the path exists": rules out any
    // spelling the filesystem would normalise to a different entry.
    if (!(await this.readNames()).includes(id)) return null;
    return this.lookup(id);
  }

  private async readNames(): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      this.logger.warn({ dir: this.dir, err: (err as Error).message }, "video library unreadable");
      return [];
    }
    return entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  }

  private async lookup(name: string): Promise<ResolvedVideo | null> {
    const checked = await this.check(name);
    if (!checked.ok) {
      this.logger.debug({ id: name, why: checked.why }, "video entry ignored");
      return null;
    }
    const { entry } = checked;
    const result = await this.probeCached(name, entry);
    if (!result.ok) return null;
    return {
      info: { id: name, title: titleFromId(name), bytes: entry.size, ...result.info },
      path: entry.path,
      key: `${name}:${entry.size}:${Math.trunc(entry.mtimeMs)}`,
    };
  }

  private async check(name: string): Promise<Checked> {
    let root: string;
    try {
      root = await this.libraryRealPath();
    } catch (err) {
      return { ok: false, why: (err as NodeJS.ErrnoException).code ?? "unreadable" };
    }
    // The one path rule of the library (server/library/library-entry.ts), shared with subtitle sidecars.
    const c = await checkLibraryEntry(this.dir, root, name);
    return c.ok ? { ok: true, entry: { path: c.file.path, size: c.file.size, mtimeMs: c.file.mtimeMs } } : c;
  }

  private libraryRealPath(): Promise<string> {
    // Resolved once: the library root itself may be a symlink (e.g. to a mounted disk).
    this.realDir ??= realpath(this.dir).catch((err: unknown) => {
      this.realDir = null;
      throw err;
    });
    return this.realDir;
  }

  private probeCached(name: string, entry: Entry): Promise<ProbeResult> {
    const slot = this.probes.get(name);
    if (slot && slot.size === entry.size && slot.mtimeMs === entry.mtimeMs) return slot.result;
    const result = this.probe(entry.path).then(
      (r) => {
        // Logged once per file version (the failure is cached too), not on every list().
        if (!r.ok) this.logger.warn({ id: name, reason: r.reason, detail: r.detail }, "video skipped");
        return r;
      },
      (err: unknown): ProbeResult => {
        // The prober itself broke (no ffprobe?), not the file: skip it now, retry next time.
        if (this.probes.get(name)?.result === result) this.probes.delete(name);
        const detail = err instanceof Error ? err.message : String(err);
        this.logger.warn({ id: name, err: detail }, "video probe failed");
        return { ok: false, reason: "corrupt", detail };
      },
    );
    this.probes.set(name, { size: entry.size, mtimeMs: entry.mtimeMs, result });
    return result;
  }
}

// The library's path rule for every file it serves (videos in
// server/video/catalogue.ts, subtitle sidecars): a name must be an entry of the
// library directory, not hidden, and resolve to a regular file inside the library.

import { lstat, realpath, stat } from "node:fs/promises";
import { extname, join, sep } from "node:path";

const NAME_MAX_LENGTH = 255;

export function isPlausibleEntryName(name: unknown, extensions: ReadonlySet<string>): name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > NAME_MAX_LENGTH) return false;
  if (/[/\\\0]/.test(name) || name.startsWith(".")) return false;
  return extensions.has(extname(name).slice(1).toLowerCase());
}

export interface LibraryFile {
  name: string;
  /** Real path, inside the library. */
  path: string;
  size: number;
  mtimeMs: number;
}

export type EntryCheck = { ok: true; file: LibraryFile } | { ok: false; why: string };

/** `rootReal` is realpath() of the library directory. */
export async function checkLibraryEntry(dir: string, rootReal: string, name: string): Promise<EntryCheck> {
  try {
    const candidate = join(dir, name);
    const l = await lstat(candidate);
    if (!l.isFile() && !l.isSymbolicLink()) return { ok: false, why: "not a regular file" };
    const real = await realpath(candidate);
    if (!real.startsWith(rootReal + sep)) return { ok: false, why: "symlink leaves the library" };
    const st = await stat(real);
    if (!st.isFile()) return { ok: false, why: "not a regular file" };
    return { ok: true, file: { name, path: real, size: st.size, mtimeMs: st.mtimeMs } };
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code ?? "unreadable" };
  }
}

// Resume cursors of the terminal client (docs/protocol.md section 2c): per
// room, the last seq of the room log this identity has and the id of that log,
// in a 0600 file beside the identity, so a restarted client resumes where it
// stopped (and a log the core replaced is not resumed by seq).

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cursorOf, type Cursor, type CursorStore } from "../protocol/resume";

/** Rooms remembered (the file stays small whatever a user joins). */
const MAX_ROOMS = 1_000;

export class FileCursorStore implements CursorStore {
  /** Room -> cursor; in the file {"room": {"seq": N, "log": "..."}} (a bare N: kept before log ids). */
  private map = new Map<string, Cursor>();

  constructor(
    private readonly file: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    try {
      const o = JSON.parse(readFileSync(file, "utf8")) as unknown;
      if (o && typeof o === "object") {
        for (const [room, v] of Object.entries(o as Record<string, unknown>)) {
          const c = cursorOf(v);
          if (c) this.map.set(room, c);
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        onError(`ignoring unreadable ${file}: ${(e as Error).message}`);
    }
  }

  get(room: string): Cursor | null {
    const c = this.map.get(room);
    return c ? { ...c } : null;
  }

  // At most every 250 ms (protocol/resume.ts): write synchronously, atomically.
  set(room: string, cursor: Cursor): void {
    this.map.delete(room);
    this.map.set(room, cursor.log === undefined ? { seq: cursor.seq } : { seq: cursor.seq, log: cursor.log });
    while (this.map.size > MAX_ROOMS) this.map.delete(this.map.keys().next().value as string);
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.map)), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.onError(`cannot save ${this.file}: ${(e as Error).message}`);
    }
  }
}

/** identity-alice.json -> cursors-alice.json in the same directory. */
export function cursorsPathFor(identityFile: string): string {
  const base = path
    .basename(identityFile)
    .replace(/\.json$/, "")
    .replace(/^identity-/, "");
  return path.join(path.dirname(identityFile), `cursors-${base || "keys"}.json`);
}

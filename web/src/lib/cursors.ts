// Resume cursors of the web app (docs/protocol.md section 2c): per identity
// and room, the last seq of the room log this browser has and the id of that
// log, in localStorage, so a reload resumes where it stopped (and a log the
// core replaced is not resumed by seq). Seqs and log ids are not secret.

import { cursorOf, type Cursor, type CursorStore } from "../../../protocol/resume";

export class LocalCursorStore implements CursorStore {
  constructor(private readonly selfId: string) {}

  private key(room: string): string {
    return `sealroom.cursor.${this.selfId}.${room}`;
  }

  // Stored as JSON {"seq":N,"log":"..."}; a bare number is a cursor kept before log ids.
  get(room: string): Cursor | null {
    try {
      const raw = localStorage.getItem(this.key(room));
      if (raw === null) return null;
      return cursorOf(JSON.parse(raw) as unknown);
    } catch {
      return null; // storage disabled or junk: resume within this page only
    }
  }

  set(room: string, cursor: Cursor): void {
    try {
      localStorage.setItem(
        this.key(room),
        JSON.stringify(cursor.log === undefined ? { seq: cursor.seq } : { seq: cursor.seq, log: cursor.log }),
      );
    } catch {
      // full or disabled: the next reload starts from the server's current seq
    }
  }
}

// Resume cursors of the web app (docs/protocol.md section 2c): per identity
// and room, the last seq of the room log this browser has, in localStorage, so
// a reload resumes where it stopped. Seqs are not secret.

import type { CursorStore } from "../../../protocol/resume";

export class LocalCursorStore implements CursorStore {
  constructor(private readonly selfId: string) {}

  private key(room: string): string {
    return `sealroom.cursor.${this.selfId}.${room}`;
  }

  get(room: string): number | null {
    try {
      const v = Number(localStorage.getItem(this.key(room)));
      return localStorage.getItem(this.key(room)) !== null && Number.isSafeInteger(v) && v >= 0 ? v : null;
    } catch {
      return null; // storage disabled: resume within this page only
    }
  }

  set(room: string, seq: number): void {
    try {
      localStorage.setItem(this.key(room), String(seq));
    } catch {
      // full or disabled: the next reload starts from the server's current seq
    }
  }
}

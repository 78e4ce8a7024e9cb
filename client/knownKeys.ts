// Key continuity across runs for the terminal client: per room, the member id
// last seen under each name, kept next to the identity file. Ids are public,
// so this is about noticing a changed key, not about secrecy; still written
// 0600 since it records who you talk to.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { KeyStore } from "../protocol/keyContinuity";

const MAX_ENTRIES = 10_000;

export class FileKeyStore implements KeyStore {
  private map = new Map<string, string>();

  constructor(
    private readonly file: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
      if (Array.isArray(parsed)) {
        for (const e of parsed) if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") this.map.set(e[0], e[1]);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") onError(`ignoring unreadable ${file}: ${(e as Error).message}`);
    }
  }

  get(room: string, nameKey: string): string | undefined {
    return this.map.get(`${room}\n${nameKey}`);
  }

  set(room: string, nameKey: string, id: string): void {
    const k = `${room}\n${nameKey}`;
    this.map.delete(k);
    this.map.set(k, id);
    while (this.map.size > MAX_ENTRIES) this.map.delete(this.map.keys().next().value as string);
    // Small and rare (a member first seen or changed): write synchronously, atomically.
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify([...this.map]), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.onError(`cannot save ${this.file}: ${(e as Error).message}`);
    }
  }
}

/** identity-alice.json -> known-alice.json in the same directory. */
export function knownKeysPathFor(identityFile: string): string {
  const base = path.basename(identityFile).replace(/\.json$/, "").replace(/^identity-/, "");
  return path.join(path.dirname(identityFile), `known-${base || "keys"}.json`);
}

// Key continuity across runs for the terminal client: per room, the member id
// last seen under each name, kept next to the identity file. Ids are public,
// so this is about noticing a changed key, not about secrecy; still written
// 0600 since it records who you talk to.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MemoryKeyStore } from "../protocol/keyContinuity";

export class FileKeyStore extends MemoryKeyStore {
  constructor(
    private readonly file: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    super(10_000);
    try {
      this.restore(readFileSync(file, "utf8"));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        onError(`ignoring unreadable ${file}: ${(e as Error).message}`);
    }
  }

  // Small and rare (a member first seen or changed): write synchronously, atomically.
  protected override save(json: string): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, json, { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.onError(`cannot save ${this.file}: ${(e as Error).message}`);
    }
  }
}

/** identity-alice.json -> known-alice.json in the same directory. */
export function knownKeysPathFor(identityFile: string): string {
  const base = path
    .basename(identityFile)
    .replace(/\.json$/, "")
    .replace(/^identity-/, "");
  return path.join(path.dirname(identityFile), `known-${base || "keys"}.json`);
}

/** TLS certificates first seen per core (host:port), shared by every identity in that directory. */
export function corePinsPathFor(identityFile: string): string {
  return path.join(path.dirname(identityFile), "known-cores.json");
}

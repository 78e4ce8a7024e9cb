// The terminal client's v2 keys between runs (protocol/e2e/keyStore2.ts): per
// room, the Ed25519 signing key and the X25519 agreement key(s) others wrap
// chain keys to while this member is away, as base64 PKCS#8 in a 0600 file
// beside the identity. Whoever reads it can open what was sent to this member
// while it was away (docs/security.md section 5), so a file others can read is
// refused, as the identity file is.

import { promises as fs } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { fromBase64, isBase64, toBase64 } from "../protocol/base64";
import {
  isV2KeyRecord,
  keysMatch,
  V2_KEY_LIMITS,
  type StoredKeyPair,
  type V2KeyRecord,
  type V2KeyStore,
} from "../protocol/e2e/keyStore2";
import { exportPrivatePkcs8, importPrivatePkcs8 } from "../protocol/e2e/primitives";

/** Rooms remembered (the file stays small whatever a user joins); the least recently saved go first. */
const MAX_ROOMS = 1_000;

const b64 = z.string().refine(isBase64, "not base64");
const Pair = z.object({ pkcs8: b64, pub: b64 });
const Room = z.object({ sig: Pair, dh: z.array(Pair).min(1).max(V2_KEY_LIMITS.agreementKeysKept) });
const FileJson = z.object({ v: z.literal(1), rooms: z.record(z.string(), Room) });
type RoomJson = z.infer<typeof Room>;

export class FileV2KeyStore implements V2KeyStore {
  readonly extractable = true;
  private rooms: Map<string, RoomJson> | null = null;
  /** Writes one at a time, in order. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly onError: (message: string) => void = () => {},
  ) {}

  private async read(): Promise<Map<string, RoomJson>> {
    if (this.rooms) return this.rooms;
    const rooms = new Map<string, RoomJson>();
    try {
      const st = await fs.stat(this.file);
      const mode = st.mode & 0o777;
      if (process.platform !== "win32" && (mode & 0o077) !== 0) {
        throw new Error(
          `${this.file} is accessible by other users (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 '${this.file}'`,
        );
      }
      const r = FileJson.safeParse(JSON.parse(await fs.readFile(this.file, "utf8")));
      if (!r.success) throw new Error(`not a Sealroom v2 key file: ${r.error.issues[0].message}`);
      for (const [room, keys] of Object.entries(r.data.rooms)) rooms.set(room, keys);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        // Refused rather than overwritten: it may hold the only key to what was sent while away.
        this.onError(`v2 keys: ${(e as Error).message}`);
        throw e;
      }
    }
    this.rooms = rooms;
    return rooms;
  }

  async load(room: string): Promise<V2KeyRecord | null> {
    const j = (await this.read()).get(room);
    if (!j) return null;
    const pair = async (p: z.infer<typeof Pair>, curve: "Ed25519" | "X25519"): Promise<StoredKeyPair> => ({
      privateKey: await importPrivatePkcs8(curve, fromBase64(p.pkcs8)!, { extractable: true }),
      publicKey: p.pub,
    });
    try {
      const rec: V2KeyRecord = {
        sig: await pair(j.sig, "Ed25519"),
        dh: await Promise.all(j.dh.map((d) => pair(d, "X25519"))),
      };
      if (isV2KeyRecord(rec) && (await keysMatch(rec))) return rec;
    } catch {
      /* reported below */
    }
    this.onError(`v2 keys for room ${room} in ${this.file} are unusable; new ones are made`);
    return null;
  }

  async save(room: string, rec: V2KeyRecord): Promise<void> {
    const rooms = await this.read();
    const ex = async (p: StoredKeyPair) => ({
      pkcs8: toBase64(await exportPrivatePkcs8(p.privateKey)),
      pub: p.publicKey,
    });
    const j: RoomJson = { sig: await ex(rec.sig), dh: await Promise.all(rec.dh.map(ex)) };
    rooms.delete(room);
    rooms.set(room, j);
    while (rooms.size > MAX_ROOMS) rooms.delete(rooms.keys().next().value as string);
    const body = JSON.stringify({ v: 1, rooms: Object.fromEntries(rooms) });
    const write = async () => {
      const tmp = `${this.file}.${process.pid}.tmp`;
      try {
        await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
        await fs.writeFile(tmp, body, { mode: 0o600 });
        await fs.rename(tmp, this.file);
      } catch (e) {
        this.onError(`cannot save ${this.file}: ${(e as Error).message}`);
      }
    };
    this.writing = this.writing.then(write);
    return this.writing;
  }
}

/** identity-alice.json -> v2keys-alice.json in the same directory. */
export function v2KeysPathFor(identityFile: string): string {
  const base = path
    .basename(identityFile)
    .replace(/\.json$/, "")
    .replace(/^identity-/, "");
  return path.join(path.dirname(identityFile), `v2keys-${base || "keys"}.json`);
}

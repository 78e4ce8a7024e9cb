// The SQLite driver's faults, with real files and processes: corrupt,
// truncated, foreign and future-version files are refused by name; a second
// process on the same data dir is refused and a killed one leaves no stale
// lock; a full disk (a real 2 MiB tmpfs) rejects writes without harm; and only
// ciphertext reaches the files.

import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  unlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity, sealEnvelope } from "../../protocol/crypto";
import { StoreError, type AppendEntry } from "../../server/store/roomStore";
import { SqliteStore } from "../../server/store/sqliteStore";
import { ROOT } from "../helpers/proc";

const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const A = id("alice");
const B = id("bob");
const big = (mid: string, kb = 4): AppendEntry => ({
  from: A,
  mid,
  to: [B],
  env: JSON.stringify({ ct: `${mid}:`.padEnd(kb * 1024, "q") }),
  at: Date.now(),
});

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "sealroom-sqlite-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function openError(dir: string): StoreError {
  try {
    new SqliteStore(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error("the store opened");
}

describe("SQLite store: files it must refuse", () => {
  it("refuses a file of garbage bytes, naming it, and leaves it as it was", () => {
    const dir = tmp();
    const file = join(dir, "rooms.db");
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(file, garbage);
    const e = openError(dir);
    expect(e.code).toBe("corrupt");
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/refusing to start/);
    expect(readFileSync(file).equals(garbage)).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("refuses a truncated store, naming it", async () => {
    const dir = tmp();
    const s = new SqliteStore(dir);
    for (let i = 0; i < 300; i++) void s.append("r", big(`m${i}`));
    await s.close();
    const file = join(dir, "rooms.db");
    const size = readFileSync(file).length;
    expect(size).toBeGreaterThan(1_000_000);
    truncateSync(file, Math.floor(size / 2));
    const e = openError(dir);
    expect(e.code).toBe("corrupt");
    expect(e.message).toContain(file);
  });

  it("refuses an SQLite file that is not a Sealroom store", () => {
    const dir = tmp();
    const db = new Database(join(dir, "rooms.db"));
    db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
    db.close();
    const e = openError(dir);
    expect(e.code).toBe("corrupt");
    expect(e.message).toMatch(/not a Sealroom store/);
    expect(e.message).toContain(join(dir, "rooms.db"));
  });

  it("refuses a store with an unknown schema version", async () => {
    const dir = tmp();
    await new SqliteStore(dir).close();
    const db = new Database(join(dir, "rooms.db"));
    db.exec("UPDATE schema_version SET version = 99");
    db.close();
    const e = openError(dir);
    expect(e.code).toBe("unknown_schema");
    expect(e.message).toMatch(/schema version 99; this core knows only 1/);
  });
});

describe("SQLite store: one core per data dir", () => {
  const holder = (dir: string) => {
    const child = spawn(process.execPath, ["--import", "tsx", "tests/helpers/store-holder.ts", dir], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const line = new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`holder said nothing: ${out}`)), 20_000);
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("\n")) {
          clearTimeout(t);
          resolve(out.trim());
        }
      });
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    return { child, line, exited };
  };

  it("opens a file written before receipt_counts existed: its receipts count as told, new ones are due", async () => {
    const dir = tmp();
    const s = new SqliteStore(dir);
    await s.append("r", big("m1"));
    await s.append("r", big("m2"));
    await s.markDelivered("r", 1, B);
    await s.close();
    // what a store of the version before looks like: no receipt_counts table
    const db = new Database(join(dir, "rooms.db"));
    db.exec("DROP TABLE receipt_counts");
    db.close();
    const again = new SqliteStore(dir);
    expect(await again.receiptsFor("r", A, 10)).toEqual([]); // the old core told its online senders live
    expect(await again.deliveredCount("r", 1)).toBe(1);
    await again.markDelivered("r", 2, B);
    expect(await again.receiptsFor("r", A, 10)).toEqual([{ seq: 2, mid: "m2", delivered: 1, recipients: 1 }]);
    await again.close();
  });

  it("opens a file written before members.v2 existed, and an older core's member write leaves no stale v2 keys", async () => {
    const dir = tmp();
    const rec = {
      id: B,
      name: "bob",
      encKey: "ZW5j",
      sigKey: "c2ln",
      encKeySig: "ZWtz",
      joinedAt: Date.now(),
      lastSeen: Date.now(),
    };
    const v2 = {
      sig2: Buffer.alloc(32, 1).toString("base64"),
      dh2: Buffer.alloc(32, 2).toString("base64"),
      link: Buffer.alloc(256, 3).toString("base64"),
      admission: { iat: 999_000, sig: Buffer.alloc(64, 4).toString("base64") },
    };
    const s = new SqliteStore(dir);
    await s.putMember("r", rec);
    await s.close();
    // what a store of the version before looks like: no v2 column
    let db = new Database(join(dir, "rooms.db"));
    db.exec("ALTER TABLE members DROP COLUMN v2");
    db.close();
    let again = new SqliteStore(dir);
    expect(await again.members("r")).toEqual([rec]);
    await again.putMember("r", { ...rec, v2 });
    expect(await again.members("r")).toEqual([{ ...rec, v2 }]);
    await again.close();
    // an older core on this file: its INSERT OR REPLACE names only the columns it knows
    db = new Database(join(dir, "rooms.db"));
    expect(db.prepare("SELECT v2 FROM members").pluck().get()).toBe(JSON.stringify(v2));
    db.prepare(
      `INSERT OR REPLACE INTO members (rid, id, name, enc_key, sig_key, enc_key_sig, agent, joined_at, last_seen)
       SELECT rid, id, name, enc_key, sig_key, enc_key_sig, agent, joined_at, last_seen FROM members`,
    ).run();
    // and a v2 value no core wrote (hand-edited): ignored, so the member shows as not admitted
    db.prepare(
      "INSERT INTO members SELECT rid, ?, 'carol', enc_key, sig_key, enc_key_sig, agent, joined_at, last_seen, '{\"sig2\":1}' FROM members",
    ).run(id("carol"));
    db.close();
    again = new SqliteStore(dir);
    const got = await again.members("r");
    expect(got.find((m) => m.id === B)).toEqual(rec);
    expect(got.find((m) => m.id === id("carol"))?.v2).toBeUndefined();
    await again.close();
  });

  it("refuses a second process, and a killed first one leaves no stale lock", async () => {
    const dir = tmp();
    const first = holder(dir);
    expect(await first.line).toBe("holding");
    const second = holder(dir);
    expect(await second.line).toMatch(/^refused locked: .*rooms\.db is in use by another Sealroom core/);
    expect(await second.exited).toBe(3);
    expect(openError(dir).code).toBe("locked"); // this process too
    first.child.kill("SIGKILL");
    await first.exited;
    const third = holder(dir);
    expect(await third.line).toBe("holding");
    third.child.kill("SIGKILL");
    await third.exited;
    const s = new SqliteStore(dir);
    expect((await s.seqRange("r")).last).toBe(1); // both holders appended mid m1 once: one entry
    await s.close();
  });
});

const isRoot = process.getuid?.() === 0;
describe.skipIf(!isRoot)("SQLite store: a full disk (tmpfs of 2 MiB; needs root, skipped otherwise)", () => {
  const mnt = tmp();
  let mounted = false;
  afterAll(() => {
    if (mounted) execFileSync("umount", [mnt]);
  });

  it("rejects appends with store_full, loses nothing resolved, and works again when space returns", async () => {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
    mounted = true;
    const dir = join(mnt, "data");
    mkdirSync(dir);
    const s = new SqliteStore(dir);
    const resolved = new Map<string, number>();
    for (let i = 0; i < 20; i++) resolved.set(`a${i}`, (await s.append("r", big(`a${i}`))).seq);
    // fill what is left of the disk
    const filler = join(mnt, "filler");
    const fd = openSync(filler, "w");
    try {
      for (;;) writeSync(fd, Buffer.alloc(16_384));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    closeSync(fd);
    let failure: unknown = null;
    for (let i = 0; i < 2_000 && !failure; i++) {
      try {
        resolved.set(`b${i}`, (await s.append("r", big(`b${i}`))).seq);
      } catch (e) {
        failure = e;
      }
    }
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe("store_full");
    expect((failure as StoreError).message).toContain(join(dir, "rooms.db"));
    await expect(s.append("r", big("still-full"))).rejects.toMatchObject({ code: "store_full" });
    // reads still work while full
    expect((await s.readAfter("r", B, 0, 1_000)).length).toBe(resolved.size);
    unlinkSync(filler);
    const after = await s.append("r", big("after"));
    expect(after).toEqual({ seq: resolved.size + 1, duplicate: false });
    resolved.set("after", after.seq);
    await s.close();
    const again = new SqliteStore(dir);
    const got = await again.readAfter("r", B, 0, 1_000);
    expect(got.map((e) => [e.mid, e.seq])).toEqual([...resolved]);
    await again.close();
    const db = new Database(join(dir, "rooms.db"), { readonly: true });
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    db.close();
  });
});

describe("SQLite store: ciphertext only", () => {
  it("never has a message's plaintext in rooms.db, -wal or -shm", async () => {
    const marker = "PLAINTEXT-MARKER-7f3a91";
    const [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const dir = tmp();
    const s = new SqliteStore(dir);
    const recipients = [bob, carol].map((m) => ({ id: m.id, encKey: m.encKey }));
    const envs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const env = await sealEnvelope(alice, {
        room: "room1",
        mid: `m${i}`,
        text: `${marker} number ${i}`,
        ts: Date.now(),
        recipients,
      });
      envs.push(JSON.stringify(env));
      await s.append("room1", { from: alice.id, mid: `m${i}`, to: [bob.id, carol.id], env: envs[i], at: Date.now() });
    }
    await s.markDelivered("room1", 1, bob.id);
    await s.putMember("room1", {
      id: bob.id,
      name: "bob",
      encKey: bob.encKey,
      sigKey: bob.sigKey,
      encKeySig: bob.encKeySig,
      joinedAt: 1,
      lastSeen: 2,
    });
    const files = () =>
      ["rooms.db", "rooms.db-wal", "rooms.db-shm"].map((f) => join(dir, f)).filter((f) => existsSync(f));
    const scan = () => {
      const all = Buffer.concat(files().map((f) => readFileSync(f)));
      return { all, marker: all.includes(marker) || all.includes(Buffer.from(marker, "utf16le")) };
    };
    const whileOpen = scan();
    expect(files().some((f) => f.endsWith("-wal"))).toBe(true);
    expect(whileOpen.marker).toBe(false);
    // the scan can see what is stored: every ciphertext is in the files
    const lastCt = (JSON.parse(envs[19]) as { ct: string }).ct;
    expect(whileOpen.all.includes(lastCt)).toBe(true);
    await s.close();
    const closed = scan();
    expect(closed.marker).toBe(false);
    expect(closed.all.includes(lastCt)).toBe(true);
  });
});

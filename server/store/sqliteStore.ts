// The durable driver of the room store: one SQLite file under --data-dir
// (better-sqlite3 12.x), WAL, group commit, one core per file.
//
// fsync policy: journal_mode=WAL with synchronous=FULL, so every commit
// fsyncs the WAL before its promises resolve: an `ack` sent after append
// survives kill -9 of the core *and* a power cut or kernel crash. Writes are
// grouped (groupCommitMs / groupCommitMaxOps): every write queued within the
// window shares one transaction and one fsync, not one per message.
// `synchronous: "NORMAL"` (an option) skips that fsync: still safe against
// kill -9 (the WAL is in the kernel's page cache), but a power cut can lose the
// last commits.
//
// Locking: locking_mode=EXCLUSIVE, taken with a write at open and held until
// close. SQLite's lock is a POSIX lock the kernel drops when the process dies,
// so a second core on the same file is refused and a killed core leaves no
// stale lock (a pid file would need staleness guesses). It also keeps the WAL
// index in heap memory: no -shm file, no mmap that a full disk could SIGBUS.
//
// A file that is not a Sealroom store, fails quick_check, or has another
// schema version is refused with an error naming it; it is never moved aside
// or repaired, so no core silently starts with an empty log under clients
// whose cursors point into the old one (the operator moves it).
//
// Over 300 lines: one driver of the RoomStore port; the group-commit queue and
// the statements it runs must stay together.

import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { effectiveAwayGraceMs, storeLimits, type StoreLimits } from "./limits";
import type { StoreOptions } from "./memoryStore";
import {
  checkCount,
  checkEntry,
  checkId,
  checkMember,
  checkRoom,
  checkStream,
  checkVk,
  entryBytes,
  newLogId,
  memberV2Of,
  StoreError,
  type AppendEntry,
  type AppendResult,
  type MemberRecord,
  type ReceiptNote,
  type ReceiptResult,
  type RoomStore,
  type RoomStreamRecord,
  type SeqRange,
  type StoredEntry,
} from "./roomStore";

export const SCHEMA_VERSION = 1;
export const STORE_FILE = "rooms.db";
/** PRAGMA application_id: "SEAL", so a foreign SQLite file is told apart from ours. */
const APP_ID = 0x5345414c;

export interface SqliteStoreOptions extends StoreOptions {
  synchronous?: "FULL" | "NORMAL";
  /** Run PRAGMA quick_check at open (reads the whole file once). Default true. */
  checkOnOpen?: boolean;
}

const SCHEMA = `
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE rooms (rid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, last_seq INTEGER NOT NULL DEFAULT 0,
  count INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE entries (rid INTEGER NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, mid TEXT NOT NULL,
  at INTEGER NOT NULL, recipients TEXT NOT NULL, env TEXT NOT NULL, size INTEGER NOT NULL,
  UNIQUE (rid, seq), UNIQUE (rid, sender, mid));
CREATE TABLE recipients (rid INTEGER NOT NULL, seq INTEGER NOT NULL, member TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (rid, seq, member)) WITHOUT ROWID;
CREATE INDEX recipients_by_member ON recipients (rid, member, seq);
CREATE TABLE members (rid INTEGER NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, enc_key TEXT NOT NULL, sig_key TEXT NOT NULL,
  enc_key_sig TEXT NOT NULL, agent TEXT, joined_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (rid, id));
CREATE TABLE streams (rid INTEGER PRIMARY KEY, sid INTEGER NOT NULL, video TEXT NOT NULL, by_id TEXT NOT NULL,
  state TEXT NOT NULL, pos_ms REAL NOT NULL, at_ms INTEGER NOT NULL);
`;

// Per entry with receipts: its count and the highest count its sender was told
// (markTold), indexed by sender for receiptsFor. Added after schema 1 shipped, so
// it is created (and filled from `recipients`, as told) when missing: a file
// written by this version still opens in an older core, which ignores the table.
const RECEIPT_COUNTS = `
CREATE TABLE receipt_counts (rid INTEGER NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, recipients INTEGER NOT NULL,
  delivered INTEGER NOT NULL, told INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rid, seq)) WITHOUT ROWID;
CREATE INDEX receipt_counts_by_sender ON receipt_counts (rid, sender, seq);
INSERT INTO receipt_counts (rid, seq, sender, recipients, delivered, told)
  SELECT e.rid, e.seq, e.sender, json_array_length(e.recipients), count(*), count(*)
  FROM recipients r JOIN entries e ON e.rid = r.rid AND e.seq = r.seq WHERE r.delivered = 1 GROUP BY e.rid, e.seq;
`;

// Each room's log id (protocol 2c). Added after schema 1 shipped, like
// receipt_counts: created when missing, ignored by an older core; a room
// without a row gets one at its first logId. A new file has new ids.
const ROOM_LOGS = `CREATE TABLE room_logs (rid INTEGER PRIMARY KEY, log TEXT NOT NULL);`;
// A v2 member's public keys and admission proof (MemberRecord.v2, JSON; NULL in
// v1 rooms). Added after schema 1 shipped, as a nullable column added when
// missing: an older core opens the file, ignores the column, and its
// INSERT OR REPLACE of a member writes NULL there, so no stale v2 keys outlive it.
const MEMBERS_V2 = `ALTER TABLE members ADD COLUMN v2 TEXT;`;

// A v2 room's verification key (RoomStore.createRoomVk), set once per room.
// Added after schema 1 shipped, like room_logs: created when missing; an
// older core ignores it (and then knows v2 rooms only from its own memory).
const ROOM_KEYS = `CREATE TABLE room_keys (rid INTEGER PRIMARY KEY, vk TEXT NOT NULL);`;

type Op = { run: () => unknown; resolve: (v: never) => void; reject: (e: unknown) => void };

interface EntryRow {
  seq: number;
  sender: string;
  mid: string;
  at: number;
  recipients: string;
  env: string;
}

export class SqliteStore implements RoomStore {
  readonly limits: StoreLimits;
  readonly file: string;
  private readonly now: () => number;
  private db: Database.Database;
  private queue: Op[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  private flushed: Promise<void> = Promise.resolve();
  private flushDone: (() => void) | null = null;
  private closed = false;
  private sweepTimer: NodeJS.Timeout;
  private rids = new Map<string, number>();
  /** Room -> its log id, once read or made (it never changes in a file). */
  private logs = new Map<string, string>();
  /** Room -> its v2 verification key, once read or set (it never changes in a file). */
  private vks = new Map<string, string>();
  private st: ReturnType<SqliteStore["prepare"]>;

  /** Opens (creating if absent) DIR/rooms.db; throws StoreError locked / corrupt / unknown_schema naming the file. */
  constructor(dataDir: string, opts: SqliteStoreOptions = {}) {
    this.limits = storeLimits(opts.limits);
    this.now = opts.now ?? Date.now;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.file = join(dataDir, STORE_FILE);
    const fresh = !existsSync(this.file);
    try {
      this.db = new Database(this.file);
    } catch (e) {
      throw this.openError(e);
    }
    try {
      if (fresh) chmodSync(this.file, 0o600);
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("busy_timeout = 0");
      const mode = this.db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal")
        throw new StoreError("store_failed", `${this.file}: could not enable WAL (journal_mode ${String(mode)})`);
      this.db.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
      this.db.pragma("journal_size_limit = 16777216");
      this.db.pragma("foreign_keys = OFF");
      // A write now takes the exclusive lock for the life of this connection.
      this.db.exec("BEGIN IMMEDIATE");
      try {
        this.initSchema(opts.checkOnOpen ?? true);
        this.db.exec("COMMIT");
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    } catch (e) {
      this.db.close();
      throw this.openError(e);
    }
    this.st = this.prepare();
    for (const r of this.st.allRooms.all() as { rid: number; name: string }[]) this.rids.set(r.name, r.rid);
    this.sweepTimer = setInterval(() => void this.sweep().catch(() => {}), this.limits.sweepIntervalMs).unref();
  }

  private initSchema(check: boolean): void {
    const appId = this.db.pragma("application_id", { simple: true }) as number;
    const tables = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    if (tables.length === 0 && appId === 0) {
      this.db.pragma(`application_id = ${APP_ID}`);
      this.db.exec(SCHEMA);
      this.db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(SCHEMA_VERSION);
      this.db.exec(RECEIPT_COUNTS);
      this.db.exec(ROOM_LOGS);
      this.db.exec(MEMBERS_V2);
      this.db.exec(ROOM_KEYS);
      return;
    }
    if (appId !== APP_ID || !tables.includes("schema_version")) {
      throw new StoreError(
        "corrupt",
        `${this.file} is an SQLite file but not a Sealroom store; refusing to use it (move it away or pick another --data-dir)`,
      );
    }
    const v = this.db.prepare("SELECT max(version) FROM schema_version").pluck().get();
    if (v !== SCHEMA_VERSION) {
      throw new StoreError(
        "unknown_schema",
        `${this.file} has store schema version ${String(v)}; this core knows only ${SCHEMA_VERSION} (was it written by a newer Sealroom?); refusing to start`,
      );
    }
    if (check) {
      const res = this.db.pragma("quick_check", { simple: true });
      if (res !== "ok")
        throw new StoreError(
          "corrupt",
          `${this.file} fails its integrity check (${String(res)}); refusing to start: move it aside to start with an empty store`,
        );
    }
    if (!tables.includes("receipt_counts")) this.db.exec(RECEIPT_COUNTS);
    if (!tables.includes("room_logs")) this.db.exec(ROOM_LOGS);
    if (!tables.includes("room_keys")) this.db.exec(ROOM_KEYS);
    const memberCols = this.db.prepare("SELECT name FROM pragma_table_info('members')").pluck().all() as string[];
    if (!memberCols.includes("v2")) this.db.exec(MEMBERS_V2);
  }

  private openError(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const code = (e as { code?: string }).code ?? "";
    const msg = e instanceof Error ? e.message : String(e);
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      return new StoreError(
        "locked",
        `${this.file} is in use by another Sealroom core (SQLite exclusive lock); only one core may use a data dir`,
      );
    }
    if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
      return new StoreError(
        "corrupt",
        `${this.file} is corrupt or not a database (${msg}); refusing to start: move it aside to start with an empty store`,
      );
    }
    if (code === "SQLITE_FULL") return new StoreError("store_full", `${this.file}: disk full (${msg})`);
    return new StoreError("store_failed", `${this.file}: ${msg}${code ? ` (${code})` : ""}`);
  }

  private prepare() {
    const db = this.db;
    return {
      allRooms: db.prepare("SELECT rid, name FROM rooms"),
      room: db.prepare("SELECT rid, last_seq, count, bytes FROM rooms WHERE rid = ?"),
      addRoom: db.prepare("INSERT INTO rooms (name) VALUES (?)"),
      setRoom: db.prepare("UPDATE rooms SET last_seq = ?, count = ?, bytes = ? WHERE rid = ?"),
      findMid: db.prepare("SELECT seq FROM entries WHERE rid = ? AND sender = ? AND mid = ?").pluck(),
      addEntry: db.prepare(
        "INSERT INTO entries (rid, seq, sender, mid, at, recipients, env, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      addRecipient: db.prepare("INSERT INTO recipients (rid, seq, member) VALUES (?, ?, ?)"),
      oldestSizes: db.prepare("SELECT seq, size FROM entries WHERE rid = ? ORDER BY seq LIMIT ?"),
      firstYoung: db.prepare("SELECT seq FROM entries WHERE rid = ? AND at >= ? ORDER BY seq LIMIT 1").pluck(),
      sumThrough: db.prepare(
        "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM entries WHERE rid = ? AND seq <= ?",
      ),
      delEntries: db.prepare("DELETE FROM entries WHERE rid = ? AND seq <= ?"),
      delRecipients: db.prepare("DELETE FROM recipients WHERE rid = ? AND seq <= ?"),
      readAfter: db.prepare(
        `SELECT e.seq, e.sender, e.mid, e.at, e.recipients, e.env FROM recipients r JOIN entries e ON e.rid = r.rid AND e.seq = r.seq
         WHERE r.rid = ? AND r.member = ? AND r.seq > ? ORDER BY r.seq LIMIT ?`,
      ),
      entryHead: db.prepare("SELECT sender, mid, recipients FROM entries WHERE rid = ? AND seq = ?"),
      deliver: db.prepare(
        "UPDATE recipients SET delivered = 1 WHERE rid = ? AND seq = ? AND member = ? AND delivered = 0",
      ),
      isRecipient: db.prepare("SELECT 1 FROM recipients WHERE rid = ? AND seq = ? AND member = ?").pluck(),
      delivered: db.prepare("SELECT count(*) FROM recipients WHERE rid = ? AND seq = ? AND delivered = 1").pluck(),
      setCount: db.prepare(
        `INSERT INTO receipt_counts (rid, seq, sender, recipients, delivered) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (rid, seq) DO UPDATE SET delivered = excluded.delivered`,
      ),
      told: db.prepare("UPDATE receipt_counts SET told = max(told, ?) WHERE rid = ? AND seq = ? AND sender = ?"),
      receiptsFor: db.prepare(
        `SELECT c.seq, e.mid, c.delivered, c.recipients FROM receipt_counts c JOIN entries e ON e.rid = c.rid AND e.seq = c.seq
         WHERE c.rid = ? AND c.sender = ? AND c.seq >= ? AND c.delivered > c.told ORDER BY c.seq DESC LIMIT ?`,
      ),
      delCounts: db.prepare("DELETE FROM receipt_counts WHERE rid = ? AND seq <= ?"),
      putMember: db.prepare(
        `INSERT OR REPLACE INTO members (rid, id, name, enc_key, sig_key, enc_key_sig, agent, joined_at, last_seen, v2)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      memberSeen: db.prepare("UPDATE members SET last_seen = max(last_seen, ?) WHERE rid = ? AND id = ?"),
      memberLeft: db.prepare("DELETE FROM members WHERE rid = ? AND id = ?"),
      members: db.prepare("SELECT * FROM members WHERE rid = ? AND last_seen >= ? ORDER BY joined_at, id"),
      expireMembers: db.prepare("DELETE FROM members WHERE last_seen < ?"),
      setStream: db.prepare(
        "INSERT OR REPLACE INTO streams (rid, sid, video, by_id, state, pos_ms, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      delStream: db.prepare("DELETE FROM streams WHERE rid = ?"),
      stream: db.prepare("SELECT * FROM streams WHERE rid = ?"),
      logOf: db.prepare("SELECT log FROM room_logs WHERE rid = ?").pluck(),
      addLog: db.prepare("INSERT INTO room_logs (rid, log) VALUES (?, ?)"),
      vkOf: db.prepare("SELECT vk FROM room_keys WHERE rid = ?").pluck(),
      addVk: db.prepare("INSERT OR IGNORE INTO room_keys (rid, vk) VALUES (?, ?)"),
    };
  }

  // ---- writes: queued, committed together --------------------------------------

  /** Read once; made (and committed) the first time a room is asked for. */
  async logId(room: string): Promise<string> {
    checkRoom(room);
    await this.pending();
    const known = this.logs.get(room);
    if (known !== undefined) return known;
    const rid = this.rids.get(room);
    const had = rid === undefined ? undefined : this.guard(() => this.st.logOf.get(rid) as string | undefined);
    const log =
      had ??
      (await this.write(
        () => {},
        () => {
          const r = this.rid(room);
          let l = this.st.logOf.get(r) as string | undefined;
          if (l === undefined) this.st.addLog.run(r, (l = newLogId()));
          return l;
        },
      ));
    this.logs.set(room, log);
    return log;
  }

  /** The first key stored for the room wins: INSERT OR IGNORE, then what is there, in one transaction. */
  async createRoomVk(room: string, vk: string): Promise<string> {
    checkVk(room, vk);
    if (this.closed) throw new StoreError("store_closed", "the room store is closed");
    const known = this.vks.get(room);
    if (known !== undefined) return known;
    const got = await this.write(
      () => {},
      () => {
        const r = this.rid(room);
        this.st.addVk.run(r, vk);
        return this.st.vkOf.get(r) as string;
      },
    );
    this.vks.set(room, got);
    return got;
  }

  append(room: string, e: AppendEntry): Promise<AppendResult> {
    return this.write(
      () => {
        checkEntry(room, e);
        return e;
      },
      () => this.appendNow(room, e),
    );
  }

  markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null> {
    return this.write(
      () => {
        checkRoom(room);
        checkId(recipient, "recipient");
      },
      () => {
        const rid = this.rids.get(room);
        if (rid === undefined || !Number.isSafeInteger(seq) || seq < this.oldest(rid)) return null;
        const head = this.st.entryHead.get(rid, seq) as { sender: string; mid: string; recipients: string } | undefined;
        if (!head) return null;
        const added = this.st.deliver.run(rid, seq, recipient).changes === 1;
        if (!added && this.st.isRecipient.get(rid, seq, recipient) === undefined) return null;
        const to = JSON.parse(head.recipients) as string[];
        const delivered = this.st.delivered.get(rid, seq) as number;
        if (added) this.st.setCount.run(rid, seq, head.sender, to.length, delivered);
        return { from: head.sender, mid: head.mid, recipients: to.length, delivered, added };
      },
    );
  }

  markTold(room: string, sender: string, seq: number, delivered: number): Promise<void> {
    return this.write(
      () => {
        checkRoom(room);
        checkId(sender, "sender");
        checkCount(delivered);
      },
      () => {
        const rid = this.rids.get(room);
        if (rid !== undefined && Number.isSafeInteger(seq)) this.st.told.run(delivered, rid, seq, sender);
      },
    );
  }

  putMember(room: string, m: MemberRecord): Promise<void> {
    return this.write(
      () => checkMember(room, m),
      () => {
        this.st.putMember.run(
          this.rid(room),
          m.id,
          m.name,
          m.encKey,
          m.sigKey,
          m.encKeySig,
          m.agent ?? null,
          m.joinedAt,
          m.lastSeen,
          m.v2 === undefined ? null : JSON.stringify(memberV2Of(m.v2)),
        );
      },
    );
  }

  memberSeen(room: string, id: string, at: number): Promise<void> {
    return this.write(
      () => {
        checkRoom(room);
        checkId(id, "member id");
        if (!Number.isFinite(at)) throw new StoreError("bad_input", "at must be finite");
      },
      () => {
        const rid = this.rids.get(room);
        if (rid !== undefined) this.st.memberSeen.run(at, rid, id);
      },
    );
  }

  memberLeft(room: string, id: string): Promise<void> {
    return this.write(
      () => {
        checkRoom(room);
        checkId(id, "member id");
      },
      () => {
        const rid = this.rids.get(room);
        if (rid !== undefined) this.st.memberLeft.run(rid, id);
      },
    );
  }

  setStream(room: string, s: RoomStreamRecord | null): Promise<void> {
    return this.write(
      () => checkStream(room, s),
      () => {
        if (s === null) {
          const rid = this.rids.get(room);
          if (rid !== undefined) this.st.delStream.run(rid);
          return;
        }
        this.st.setStream.run(this.rid(room), s.sid, s.video, s.by, s.state, s.posMs, s.atMs);
      },
    );
  }

  async sweep(): Promise<void> {
    return this.write(
      () => {},
      () => {
        for (const rid of this.rids.values()) this.expire(rid);
        this.st.expireMembers.run(this.now() - effectiveAwayGraceMs(this.limits));
      },
    );
  }

  // ---- reads: after the writes queued before them (read-your-writes) ------------

  async readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]> {
    checkRoom(room);
    checkId(recipient, "recipient");
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined) return [];
    const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
    if (max === 0) return [];
    const from = Math.max(Math.floor(cursor), this.oldest(rid) - 1);
    return this.guard(() =>
      (this.st.readAfter.all(rid, recipient, from, max) as EntryRow[]).map((r) => ({
        seq: r.seq,
        from: r.sender,
        mid: r.mid,
        to: JSON.parse(r.recipients) as string[],
        env: r.env,
        at: r.at,
      })),
    );
  }

  async seqRange(room: string): Promise<SeqRange> {
    checkRoom(room);
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined) return { oldest: 1, last: 0 };
    return this.guard(() => ({
      oldest: this.oldest(rid),
      last: (this.st.room.get(rid) as { last_seq: number }).last_seq,
    }));
  }

  async deliveredCount(room: string, seq: number): Promise<number> {
    checkRoom(room);
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined || !Number.isSafeInteger(seq) || seq < this.oldest(rid)) return 0;
    return this.guard(() => this.st.delivered.get(rid, seq) as number);
  }

  async receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]> {
    checkRoom(room);
    checkId(sender, "sender");
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined) return [];
    const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
    if (max === 0) return [];
    return this.guard(() =>
      (this.st.receiptsFor.all(rid, sender, this.oldest(rid), max) as ReceiptNote[])
        .map((r) => ({ seq: r.seq, mid: r.mid, delivered: r.delivered, recipients: r.recipients }))
        .reverse(),
    );
  }

  async members(room: string): Promise<MemberRecord[]> {
    checkRoom(room);
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined) return [];
    const rows = this.guard(
      () => this.st.members.all(rid, this.now() - effectiveAwayGraceMs(this.limits)) as Record<string, unknown>[],
    );
    return rows.map((r) => {
      const m: MemberRecord = {
        id: String(r.id),
        name: String(r.name),
        encKey: String(r.enc_key),
        sigKey: String(r.sig_key),
        encKeySig: String(r.enc_key_sig),
        joinedAt: Number(r.joined_at),
        lastSeen: Number(r.last_seen),
      };
      if (typeof r.agent === "string") m.agent = r.agent;
      if (typeof r.v2 === "string") {
        const v2 = memberV2Of(parseJson(r.v2));
        if (v2) m.v2 = v2;
      }
      return m;
    });
  }

  async roomVk(room: string): Promise<string | null> {
    checkRoom(room);
    await this.pending();
    const known = this.vks.get(room);
    if (known !== undefined) return known;
    const rid = this.rids.get(room);
    if (rid === undefined) return null;
    const vk = this.guard(() => this.st.vkOf.get(rid) as string | undefined);
    if (vk === undefined) return null;
    this.vks.set(room, vk);
    return vk;
  }

  async stream(room: string): Promise<RoomStreamRecord | null> {
    checkRoom(room);
    await this.pending();
    const rid = this.rids.get(room);
    if (rid === undefined) return null;
    const r = this.guard(() => this.st.stream.get(rid) as Record<string, unknown> | undefined);
    if (!r) return null;
    const state = r.state;
    if (state !== "playing" && state !== "paused")
      throw new StoreError("corrupt", `${this.file}: stream of room ${room} has state ${String(state)}`);
    return {
      sid: Number(r.sid),
      video: String(r.video),
      by: String(r.by_id),
      state,
      posMs: Number(r.pos_ms),
      atMs: Number(r.at_ms),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.flush();
    await this.flushed;
    this.db.close();
  }

  // ---- the group commit -------------------------------------------------------

  private write<T>(check: () => unknown, run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError("store_closed", "the room store is closed"));
    try {
      check();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) {
        this.flushed = new Promise((r) => (this.flushDone = r));
        if (this.limits.groupCommitMs === 0) this.flushImmediate = setImmediate(() => this.flush());
        else this.flushTimer = setTimeout(() => this.flush(), this.limits.groupCommitMs);
      }
      this.queue.push({ run, resolve: resolve as (v: never) => void, reject });
      if (this.queue.length >= this.limits.groupCommitMaxOps) this.flush();
    });
  }

  /** Runs every queued write in one transaction; their promises settle after COMMIT (and its fsync). */
  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushTimer = null;
    this.flushImmediate = null;
    const ops = this.queue;
    const done = this.flushDone;
    this.queue = [];
    this.flushDone = null;
    if (ops.length === 0) return;
    const results: unknown[] = [];
    const ridsBefore = new Map(this.rids);
    try {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        for (const op of ops) results.push(op.run());
        this.db.exec("COMMIT");
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    } catch (e) {
      this.rids = ridsBefore; // room ids created in the rolled-back transaction are gone
      const err = this.writeError(e);
      for (const op of ops) op.reject(err);
      done?.();
      return;
    }
    for (let i = 0; i < ops.length; i++) ops[i].resolve(results[i] as never);
    done?.();
  }

  private writeError(e: unknown): StoreError {
    if (e instanceof StoreError) return e;
    const code = (e as { code?: string }).code ?? "";
    const msg = e instanceof Error ? e.message : String(e);
    if (code === "SQLITE_FULL" || (code === "SQLITE_IOERR_WRITE" && /space|full/i.test(msg))) {
      return new StoreError(
        "store_full",
        `the room store ${this.file} is full (disk full): the message was not stored`,
      );
    }
    return new StoreError("store_failed", `the room store ${this.file} failed: ${msg}${code ? ` (${code})` : ""}`);
  }

  private async pending(): Promise<void> {
    if (this.closed) throw new StoreError("store_closed", "the room store is closed");
    if (this.queue.length > 0) await this.flushed;
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw this.writeError(e);
    }
  }

  // ---- inside a transaction ---------------------------------------------------

  private appendNow(room: string, e: AppendEntry): AppendResult {
    const rid = this.rid(room);
    const had = this.st.findMid.get(rid, e.from, e.mid) as number | undefined;
    if (had !== undefined && had >= this.oldest(rid)) return { seq: had, duplicate: true };
    if (had !== undefined) this.expire(rid); // aged out but not yet swept: it goes now, the mid is new again
    const r = this.st.room.get(rid) as { last_seq: number; count: number; bytes: number };
    const seq = r.last_seq + 1;
    const size = entryBytes(e);
    this.st.addEntry.run(rid, seq, e.from, e.mid, Math.floor(e.at), JSON.stringify(e.to), e.env, size);
    for (const t of e.to) this.st.addRecipient.run(rid, seq, t);
    let count = r.count + 1;
    let bytes = r.bytes + size;
    const l = this.limits;
    if (count > l.retentionMessages || bytes > l.retentionBytes) {
      // drop the oldest until within both limits (never the entry just added)
      let through = 0;
      for (const o of this.st.oldestSizes.iterate(rid, count - 1) as Iterable<{ seq: number; size: number }>) {
        if (count <= l.retentionMessages && bytes <= l.retentionBytes) break;
        through = o.seq;
        count -= 1;
        bytes -= o.size;
      }
      if (through > 0) this.dropThrough(rid, through);
    }
    this.st.setRoom.run(seq, count, bytes, rid);
    return { seq, duplicate: false };
  }

  /** Age retention: the prefix before the first entry young enough. */
  private expire(rid: number): void {
    const first = this.oldest(rid);
    const r = this.st.room.get(rid) as { last_seq: number; count: number; bytes: number };
    if (r.count === 0 || first <= r.last_seq - r.count + 1) return;
    const gone = this.st.sumThrough.get(rid, first - 1) as { n: number; bytes: number };
    this.dropThrough(rid, first - 1);
    this.st.setRoom.run(r.last_seq, r.count - gone.n, r.bytes - gone.bytes, rid);
  }

  private dropThrough(rid: number, seq: number): void {
    this.st.delRecipients.run(rid, seq);
    this.st.delCounts.run(rid, seq);
    this.st.delEntries.run(rid, seq);
  }

  /** The oldest retained seq, age retention applied without writing. */
  private oldest(rid: number): number {
    const young = this.st.firstYoung.get(rid, this.now() - this.limits.retentionAgeMs) as number | undefined;
    if (young !== undefined) return young;
    return (this.st.room.get(rid) as { last_seq: number }).last_seq + 1;
  }

  private rid(room: string): number {
    let rid = this.rids.get(room);
    if (rid === undefined) {
      rid = Number(this.st.addRoom.run(room).lastInsertRowid);
      this.rids.set(room, rid);
    }
    return rid;
  }
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return null;
  }
}

// The client half of the durable room log (docs/protocol.md section 2c): the
// cursor (last seq of this room the client has), kept through a small port so
// the web app keeps it in localStorage and the native client in a 0600 file;
// repeats dropped by seq; receipts for what was opened, sent in batches. The
// cursor is kept with the id of the log it counts in (welcome.log), so a log
// the core replaced is never resumed by seq.
//
// Browser-safe: no node: imports, timers through globalThis.

/** A room's cursor: the last seq this client has, in the log with id `log` (absent: kept before log ids). */
export interface Cursor {
  seq: number;
  log?: string;
}

/** Where cursors live between runs; sync or async. */
export interface CursorStore {
  get(room: string): Cursor | null | Promise<Cursor | null>;
  set(room: string, cursor: Cursor): void | Promise<void>;
}

/** Same rule as protocol/messages.ts LOG_ID_RE (kept here so this file imports nothing). */
const LOG_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A cursor read back from storage, or null when it is not one (a store's format check). */
export function cursorOf(v: unknown): Cursor | null {
  if (typeof v === "number") v = { seq: v }; // kept before log ids: a bare seq
  if (!v || typeof v !== "object") return null;
  const { seq, log } = v as { seq?: unknown; log?: unknown };
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) return null;
  if (log === undefined) return { seq };
  return typeof log === "string" && LOG_ID.test(log) ? { seq, log } : null;
}

export class MemoryCursorStore implements CursorStore {
  private map = new Map<string, Cursor>();
  get(room: string): Cursor | null {
    const c = this.map.get(room);
    return c ? { ...c } : null;
  }
  set(room: string, cursor: Cursor): void {
    this.map.set(room, { ...cursor });
  }
}

/** Receipts wait this long (or for this many) so a burst costs one frame. */
const RECEIPT_MS = 100;
const RECEIPT_MAX = 256;
/** The cursor is written at most this often (and on resumed). */
const SAVE_MS = 250;

type Timer = ReturnType<typeof globalThis.setTimeout>;

export class ResumeState {
  private cursor: number | null = null;
  /** The id of the log `cursor` counts in; null until a core with log ids said it. */
  private cursorLog: string | null = null;
  private loaded: Promise<void> | null = null;
  private saveTimer: Timer | null = null;
  private receipts: number[] = [];
  private receiptTimer: Timer | null = null;

  constructor(
    private readonly store: CursorStore,
    private readonly room: string,
    /** Sends a receipt on the current connection; false when offline (they are dropped: the count is best effort). */
    private readonly sendReceipt: (seqs: number[]) => boolean,
    private readonly log: (message: string) => void,
  ) {}

  /** Reads the stored cursor once (before the first hello). */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      try {
        const c = cursorOf(await this.store.get(this.room));
        if (c && this.cursor === null) {
          this.cursor = c.seq;
          this.cursorLog = c.log ?? null;
        }
      } catch (e) {
        this.log(`cursor store failed: ${String(e)}`);
      }
    })();
    return this.loaded;
  }

  /** What hello.resume carries: absent until this client has a cursor for the room. */
  hello(): { room: string; seq: number } | undefined {
    return this.cursor === null ? undefined : { room: this.room, seq: this.cursor };
  }

  /** What hello.resumeLog carries: the log id of the cursor, when one came with it. */
  helloLog(): string | undefined {
    return this.cursor === null || this.cursorLog === null ? undefined : this.cursorLog;
  }

  /** The id of the log the cursor counts in (null: none known yet). */
  get logId(): string | null {
    return this.cursorLog;
  }

  /**
   * `welcome.log`, before any replay: another log than the cursor's means the
   * core's log was replaced, so the cursor starts over at 0 (the core replays
   * this log from its start, and none of it may look like a repeat). A cursor
   * kept without a log id is taken as this log's (the core resumes it by seq).
   * Absent (a core without log ids): nothing changes. True when replaced.
   */
  welcomed(log: string | undefined): boolean {
    if (log === undefined || log === this.cursorLog) return false;
    const replaced = this.cursorLog !== null && this.cursor !== null;
    if (replaced) this.cursor = 0;
    this.cursorLog = log;
    this.save();
    return replaced;
  }

  get seq(): number | null {
    return this.cursor;
  }

  /** True for a seq this client already has (a replay overlapping what came live). */
  has(seq: number): boolean {
    return this.cursor !== null && seq <= this.cursor;
  }

  /** After a message is shown (or refused): the cursor moves past it. */
  advance(seq: number, now = false): void {
    if (this.cursor !== null && seq <= this.cursor) return;
    this.cursor = seq;
    if (now) return this.save();
    this.saveTimer ??= globalThis.setTimeout(() => this.save(), SAVE_MS);
  }

  /**
   * `resumed`: the core says where this client now is. Normally past every
   * seq replayed; lower only when the core refused a cursor from the future
   * (its log was replaced), and then the core's word wins or every new message
   * would look like a repeat.
   */
  resumed(seq: number, log?: string): void {
    this.cursor = seq;
    if (log !== undefined) this.cursorLog = log;
    this.save();
  }

  /** A message opened: its sender hears of it (in a batch). */
  opened(seq: number): void {
    this.receipts.push(seq);
    if (this.receipts.length >= RECEIPT_MAX) return this.flushReceipts();
    this.receiptTimer ??= globalThis.setTimeout(() => this.flushReceipts(), RECEIPT_MS);
  }

  flushReceipts(): void {
    if (this.receiptTimer !== null) globalThis.clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
    while (this.receipts.length > 0) {
      const batch = this.receipts.splice(0, RECEIPT_MAX);
      if (!this.sendReceipt(batch)) {
        this.receipts = [];
        return;
      }
    }
  }

  save(): void {
    if (this.saveTimer !== null) globalThis.clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (this.cursor === null) return;
    try {
      const r = this.store.set(
        this.room,
        this.cursorLog === null ? { seq: this.cursor } : { seq: this.cursor, log: this.cursorLog },
      );
      if (r instanceof Promise) r.catch((e: unknown) => this.log(`cursor store failed: ${String(e)}`));
    } catch (e) {
      this.log(`cursor store failed: ${String(e)}`);
    }
  }

  stop(): void {
    this.flushReceipts();
    this.save();
  }
}

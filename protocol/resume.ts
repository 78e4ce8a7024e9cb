// The client half of the durable room log (docs/protocol.md section 2c): the
// cursor (last seq of this room the client has), kept through a small port so
// the web app keeps it in localStorage and the native client in a 0600 file;
// repeats dropped by seq; receipts for what was opened, sent in batches.
//
// Browser-safe: no node: imports, timers through globalThis.

/** Where cursors live between runs; sync or async. */
export interface CursorStore {
  get(room: string): number | null | Promise<number | null>;
  set(room: string, seq: number): void | Promise<void>;
}

export class MemoryCursorStore implements CursorStore {
  private map = new Map<string, number>();
  get(room: string): number | null {
    return this.map.get(room) ?? null;
  }
  set(room: string, seq: number): void {
    this.map.set(room, seq);
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
        const c = await this.store.get(this.room);
        if (typeof c === "number" && Number.isSafeInteger(c) && c >= 0) this.cursor = Math.max(this.cursor ?? 0, c);
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
  resumed(seq: number): void {
    this.cursor = seq;
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
      const r = this.store.set(this.room, this.cursor);
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

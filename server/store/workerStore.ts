// The SQLite room store run in a worker thread, behind the same RoomStore port:
// better-sqlite3 is synchronous, and on the main thread each group commit's
// fsync (about 5 ms here) stalls every socket and the video pacer. Calls are
// posted in order and answered in order, so the port's guarantees (appends
// settle in the order made, reads see earlier writes) hold unchanged.

import { Worker } from "node:worker_threads";
import { storeLimits, type StoreLimits } from "./limits";
import { StoreError, type StoreErrorCode, type RoomStore } from "./roomStore";
import type { SqliteStoreOptions } from "./sqliteStore";

type Reply = { id: number; r?: unknown; err?: { code: StoreErrorCode; message: string } };

export class WorkerStore implements RoomStore {
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: never) => void; reject: (e: unknown) => void }>();
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly limits: StoreLimits,
    readonly file: string,
  ) {
    worker.on("message", (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.err) w.reject(new StoreError(m.err.code, m.err.message));
      else w.resolve(m.r as never);
    });
    worker.on("error", (e) => this.failAll(e));
    worker.on("exit", () => this.failAll(new Error("the room store's worker exited")));
  }

  /** Opens DIR/rooms.db in a new worker; rejects with the same StoreError (locked, corrupt, ...) as SqliteStore. */
  static open(dataDir: string, opts: Omit<SqliteStoreOptions, "now"> = {}): Promise<WorkerStore> {
    const limits = storeLimits(opts.limits);
    const worker = new Worker(new URL("./sqliteWorkerEntry.mjs", import.meta.url), {
      workerData: { dir: dataDir, opts },
    });
    return new Promise((resolve, reject) => {
      const onMsg = (m: { ready?: boolean; file?: string; openError?: { code: StoreErrorCode; message: string } }) => {
        worker.off("message", onMsg);
        worker.off("error", onErr);
        if (m.ready) return resolve(new WorkerStore(worker, limits, m.file ?? dataDir));
        void worker.terminate();
        reject(
          new StoreError(m.openError?.code ?? "store_failed", m.openError?.message ?? "the room store did not open"),
        );
      };
      const onErr = (e: Error) =>
        reject(new StoreError("store_failed", `the room store's worker failed: ${e.message}`));
      worker.on("message", onMsg);
      worker.once("error", onErr);
    });
  }

  private call<T>(method: keyof RoomStore, args: unknown[]): Promise<T> {
    if (this.closed && method !== "close")
      return Promise.reject(new StoreError("store_closed", "the room store is closed"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: never) => void, reject });
      this.worker.postMessage({ id, method, args });
    });
  }

  private failAll(e: unknown): void {
    const err =
      e instanceof StoreError ? e : new StoreError("store_failed", e instanceof Error ? e.message : String(e));
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.closed = true;
  }

  logId: RoomStore["logId"] = (...a) => this.call("logId", a);
  append: RoomStore["append"] = (...a) => this.call("append", a);
  readAfter: RoomStore["readAfter"] = (...a) => this.call("readAfter", a);
  seqRange: RoomStore["seqRange"] = (...a) => this.call("seqRange", a);
  markDelivered: RoomStore["markDelivered"] = (...a) => this.call("markDelivered", a);
  deliveredCount: RoomStore["deliveredCount"] = (...a) => this.call("deliveredCount", a);
  markTold: RoomStore["markTold"] = (...a) => this.call("markTold", a);
  receiptsFor: RoomStore["receiptsFor"] = (...a) => this.call("receiptsFor", a);
  putMember: RoomStore["putMember"] = (...a) => this.call("putMember", a);
  memberSeen: RoomStore["memberSeen"] = (...a) => this.call("memberSeen", a);
  memberLeft: RoomStore["memberLeft"] = (...a) => this.call("memberLeft", a);
  members: RoomStore["members"] = (...a) => this.call("members", a);
  roomVk: RoomStore["roomVk"] = (...a) => this.call("roomVk", a);
  createRoomVk: RoomStore["createRoomVk"] = (...a) => this.call("createRoomVk", a);
  setStream: RoomStore["setStream"] = (...a) => this.call("setStream", a);
  stream: RoomStore["stream"] = (...a) => this.call("stream", a);
  sweep: RoomStore["sweep"] = () => this.call("sweep", []);

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call("close", []);
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }
}

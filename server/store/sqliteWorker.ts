// The SQLite store inside a worker thread (server/store/workerStore.ts is its
// other half): every call arrives as {id, method, args} and is answered in
// order, so commits and their fsyncs never hold the event loop that paces video.

import { parentPort, workerData } from "node:worker_threads";
import { StoreError, type RoomStore } from "./roomStore";
import { SqliteStore, type SqliteStoreOptions } from "./sqliteStore";

type Call = { id: number; method: keyof RoomStore; args: unknown[] };

const port = parentPort!;
const { dir, opts } = workerData as { dir: string; opts: SqliteStoreOptions };
const failure = (e: unknown) => ({
  code: e instanceof StoreError ? e.code : "store_failed",
  message: e instanceof Error ? e.message : String(e),
});

let store: SqliteStore | null = null;
try {
  store = new SqliteStore(dir, opts);
  port.postMessage({ ready: true, file: store.file });
} catch (e) {
  port.postMessage({ openError: failure(e) });
}

port.on("message", (c: Call) => {
  const s = store;
  if (!s) return port.postMessage({ id: c.id, err: { code: "store_closed", message: "the room store did not open" } });
  const f = s[c.method] as (...a: unknown[]) => Promise<unknown>;
  f.apply(s, c.args).then(
    (r) => port.postMessage({ id: c.id, r }),
    (e: unknown) => port.postMessage({ id: c.id, err: failure(e) }),
  );
});

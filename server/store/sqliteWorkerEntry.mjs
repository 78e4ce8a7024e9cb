// Entry of the SQLite store's worker thread: a worker does not inherit the tsx
// loader bin/sealroom registered in the main thread, so it registers its own.
import { register } from "tsx/esm/api";

register();
await import("./sqliteWorker.ts");

// A child process that opens a SQLite room store and holds it until killed
// (two-core lock test), or prints the error when it cannot.

import { SqliteStore } from "../../server/store/sqliteStore";

try {
  const store = new SqliteStore(process.argv[2]);
  await store.append("r", {
    from: "holderAAAAAAAAAAAAAAAAA".slice(0, 22),
    mid: "m1",
    to: [],
    env: "{}",
    at: Date.now(),
  });
  process.stdout.write("holding\n");
  setInterval(() => {}, 1000);
} catch (e) {
  process.stdout.write(`refused ${(e as { code?: string }).code}: ${(e as Error).message}\n`);
  process.exit(3);
}

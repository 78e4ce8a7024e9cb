// A child process for the kill -9 test: appends to a SQLite room store in a
// loop and prints "ok SEQ MID" only after each append's promise resolved.

import { SqliteStore } from "../../server/store/sqliteStore";

const dir = process.argv[2];
const store = new SqliteStore(dir, { limits: { groupCommitMs: 1 } });
const from = "writerAAAAAAAAAAAAAAAAA".slice(0, 22);
const to = ["readerAAAAAAAAAAAAAAAAA".slice(0, 22), "readerBBBBBBBBBBBBBBBBB".slice(0, 22)];
/** The envelope is a function of the mid, so the parent can tell a half-written one. */
export const envOf = (mid: string) => JSON.stringify({ alg: "test", ct: mid.repeat(40), keys: {} });

let n = 0;
process.stdout.write("ready\n");
async function lane(): Promise<void> {
  for (;;) {
    const mid = `m${n++}`;
    const r = await store.append("killroom", { from, mid, to, env: envOf(mid), at: Date.now() });
    process.stdout.write(`ok ${r.seq} ${mid}\n`);
  }
}
for (let i = 0; i < 8; i++) void lane();

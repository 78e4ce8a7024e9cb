// A child process for the core kill -9 test on JetStream: a core appending to
// the JetStream room store in 8 lanes, printing "ok SEQ MID" only after each
// append's promise resolved (after the PubAck).

import { connect } from "@nats-io/transport-node";
import { JetStreamStore } from "../../server/cluster/jetstreamStore";

const [url, namespace] = process.argv.slice(2);
const nc = await connect({ servers: url });
const store = new JetStreamStore({ nc, namespace });
const from = "writerAAAAAAAAAAAAAAAAA".slice(0, 22);
const to = ["readerAAAAAAAAAAAAAAAAA".slice(0, 22)];
/** The envelope is a function of the mid, so the parent can tell a half-written one. */
const envOf = (mid: string) => JSON.stringify({ alg: "test", ct: mid.repeat(40), keys: {} });

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

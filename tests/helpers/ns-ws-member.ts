// Run inside a test's network namespace (`ip netns exec NS node --import tsx
// tests/helpers/ns-ws-member.ts WSS_URL ROOM CA_FILE NAME_TO_AWAIT`): joins a
// room through the bridge as a browser would (WebSocket, real hello), with the
// bridge's certificate as the only trusted CA, prints the welcome's member
// names as one JSON line, then waits for NAME_TO_AWAIT to join and prints it.

import { readFileSync } from "node:fs";
import { join } from "./wire";

const [url, room, caFile, awaited] = process.argv.slice(2);
if (!url || !room || !caFile || !awaited) {
  process.stderr.write("usage: ns-ws-member WSS_URL ROOM CA_FILE NAME_TO_AWAIT\n");
  process.exit(2);
}
const { peer, welcome } = await join(url, { name: "nsweb", room, ws: { ca: readFileSync(caFile, "utf8") } });
process.stdout.write(JSON.stringify({ welcome: welcome.members.map((m) => m.name) }) + "\n");
for (;;) {
  const j = await peer.nextT("joined", 60_000);
  if (j.member.name === awaited) {
    process.stdout.write(JSON.stringify({ joined: j.member.name }) + "\n");
    break;
  }
}
peer.close();
process.exit(0);

// Starts the real core in this process on an ephemeral port.

import { startCore as start, type CoreOptions, type CoreServer } from "../../server/server";

export async function startCore(opts: CoreOptions = {}): Promise<CoreServer> {
  return start({ host: "127.0.0.1", port: 0, ...opts });
}

// The cluster tests' nats-server: the same code `sealroom start --cluster`
// uses (common/nats.ts), a fresh temp store dir and a free loopback port each.

import { findNatsServer, startNats as start, type NatsServer } from "../../common/nats";

export type { NatsServer } from "../../common/nats";

export const NATS_SERVER = findNatsServer() ?? "/usr/sbin/nats-server";

export function natsServerInstalled(): boolean {
  return findNatsServer() !== null;
}

/** Starts nats-server -js on a free port in a temp dir; throws naming the package when it is not installed. */
export function startNats(): Promise<NatsServer> {
  return start();
}

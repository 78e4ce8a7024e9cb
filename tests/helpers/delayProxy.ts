// A loopback TCP relay that delays each direction by a random 60-100 ms
// (configurable) while keeping byte order: a chunk is released at
// max(previous release, arrival + random delay). It relays bytes, so a
// WebSocket or the core's framed TCP pass through unchanged.

import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface DelayProxyOptions {
  target: { host: string; port: number };
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Deterministic randomness for a test; Math.random by default. */
  random?: () => number;
  /** Called with the delay each chunk actually got (release - arrival), per direction. */
  onDelay?: (dir: "up" | "down", ms: number) => void;
}

export interface DelayProxy {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Schedules writes of one direction in order with random delays: one queue, one timer, so timer rounding can never reorder chunks. */
function delayedPipe(
  from: Socket,
  to: Socket,
  dir: "up" | "down",
  o: Required<Pick<DelayProxyOptions, "minDelayMs" | "maxDelayMs" | "random">> & Pick<DelayProxyOptions, "onDelay">,
): void {
  const queue: Array<{ chunk: Buffer; arrival: number; release: number }> = [];
  let prevRelease = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  const drain = (): void => {
    timer = null;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.release <= now + 0.5) {
      const q = queue.shift()!;
      o.onDelay?.(dir, now - q.arrival);
      if (!to.destroyed) to.write(q.chunk);
    }
    if (queue.length > 0) arm();
    else if (ended) to.end();
  };
  const arm = (): void => {
    if (timer || queue.length === 0) return;
    timer = setTimeout(drain, Math.max(0, queue[0]!.release - performance.now()));
  };
  from.on("data", (chunk: Buffer) => {
    const arrival = performance.now();
    const release = Math.max(prevRelease, arrival + o.minDelayMs + (o.maxDelayMs - o.minDelayMs) * o.random());
    prevRelease = release;
    queue.push({ chunk, arrival, release });
    arm();
  });
  from.on("end", () => {
    ended = true;
    if (queue.length === 0) to.end();
  });
}

export async function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  const o = {
    minDelayMs: opts.minDelayMs ?? 60,
    maxDelayMs: opts.maxDelayMs ?? 100,
    random: opts.random ?? Math.random,
    onDelay: opts.onDelay,
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: opts.target.host, port: opts.target.port });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    delayedPipe(client, upstream, "up", o);
    delayedPipe(upstream, client, "down", o);
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => res());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    stop: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

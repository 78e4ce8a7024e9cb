// The cluster suite's rig: one nats-server (JetStream, temp dir), a lone core
// (`--store memory`, no NATS) and three `--cluster` cores, started together
// and stopped together; and whether nats-server is here at all.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer, NATS_MISSING, startNats, type NatsServer } from "../../common/nats";
import { startCoreProc, treeCpu, type CoreProc } from "../lib/procs";
import { percentile, sortNum } from "../lib/stats";

/** nats-server found (PATH, /usr/sbin, $NATS_SERVER), or the one-line reason the suite is skipped. */
export function natsCheck(): { ok: true; bin: string } | { ok: false; reason: string } {
  const bin = findNatsServer();
  return bin ? { ok: true, bin } : { ok: false, reason: NATS_MISSING };
}

export const pct = (xs: readonly number[], p: number) => percentile(sortNum(xs), p);

export interface Rig {
  nats: NatsServer;
  /** `sealroom server --store memory`, no NATS. */
  lone: CoreProc;
  /** Three `--cluster` nodes c0, c1, c2 on `nats`. */
  cores: CoreProc[];
  videos: string;
  stop(): Promise<void>;
}

let namespaces = 0;

/** A namespace no other rig or store of this process uses (1-16 letters or digits). */
export const freshNamespace = (prefix: string) => `${prefix}${process.pid}n${namespaces++}`;

/** Starts nats-server and the four cores (in parallel); `limits` go to every core. */
export async function startRig(opts: { videos: string; limits?: Record<string, number> }): Promise<Rig> {
  const nats = await startNats();
  const cacheDirs: string[] = [];
  const cache = () => {
    const d = mkdtempSync(join(tmpdir(), "sealroom-bench-cluster-cache-"));
    cacheDirs.push(d);
    return d;
  };
  const namespace = freshNamespace("b");
  const started: CoreProc[] = [];
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
    await nats.cleanup();
    for (const d of cacheDirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    const all = await Promise.all([
      startCoreProc({ videos: opts.videos, cacheDir: cache(), limits: opts.limits, store: "memory" }).then((p) => {
        started.push(p);
        return p;
      }),
      ...[0, 1, 2].map((i) =>
        startCoreProc({
          videos: opts.videos,
          cacheDir: cache(),
          limits: opts.limits,
          cluster: { url: nats.url, node: `c${i}`, namespace },
        }).then((p) => {
          started.push(p);
          return p;
        }),
      ),
    ]);
    return { nats, lone: all[0]!, cores: all.slice(1), videos: opts.videos, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** CPU ms so far of a process and its children (live and reaped). */
export const treeMs = (pid: number) => treeCpu(pid) * 1000;

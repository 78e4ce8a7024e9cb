// The cluster from the command line against a real nats-server: `server
// --cluster URL --node NAME` joins (and a second live core with that name is
// refused with one line, exit 2; NATS unreachable, exit 69; bad flags, exit 2),
// and `start --cluster 3` brings up nats-server, three cores and a bridge
// listing them all (a clear error naming the package when nats-server is missing).

import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { runSealroom, type Proc } from "../helpers/proc";
import { identity, join } from "../helpers/wire";

let nats: NatsServer;
const procs: Proc[] = [];
const server = (args: string[]) => {
  const p = runSealroom(["server", "--port", "0", "--log-level", "warn", ...args]);
  procs.push(p);
  return p;
};
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await p.exited;
  }
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.runIf(natsServerInstalled() || process.env.CI)("sealroom server --cluster", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.cleanup();
  });

  it("joins as a node, and a second core with the same live node name is refused in one line with exit 2", async () => {
    const a = server(["--cluster", nats.url, "--node", "alpha", "--cluster-namespace", "cli1"]);
    const line = (
      await a.waitFor(
        /sealroom core is cluster node alpha on (nats:\/\/\S+)\nsealroom core listening on 127\.0\.0\.1:\d+\n/,
      )
    )[1];
    expect(line).toBe(nats.url);
    const twin = server(["--cluster", nats.url, "--node", "alpha", "--cluster-namespace", "cli1"]);
    const { code } = await twin.exited;
    expect(code).toBe(2);
    expect(twin.stderr().trim().split("\n")).toHaveLength(1);
    expect(twin.stderr()).toContain("node name alpha is already in use by a live core of this cluster");
    expect(twin.stdout()).not.toContain("listening");
    // another namespace is another cluster: the same name is fine there
    const other = server(["--cluster", nats.url, "--node", "alpha", "--cluster-namespace", "cli2"]);
    await other.waitFor(/cluster node alpha[^\n]*\n.*listening/);
    // a clean stop frees the name at once (not after presenceTtlMs)
    a.child.kill("SIGTERM");
    expect((await a.exited).code).toBe(0);
    const again = server(["--cluster", nats.url, "--node", "alpha", "--cluster-namespace", "cli1"]);
    await again.waitFor(/cluster node alpha[^\n]*\n.*listening/);
  });

  it("exits 69 in one line when NATS cannot be reached", async () => {
    const dead = await freePort();
    const p = server(["--cluster", `nats://127.0.0.1:${dead}`, "--node", "beta"]);
    expect((await p.exited).code).toBe(69);
    expect(p.stderr()).toMatch(/^sealroom server: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+: .+\n$/);
  });

  it("refuses bad cluster flags with exit 2 and one line", async () => {
    const cases: [string[], string][] = [
      [["--node", "x"], "--node goes with --cluster"],
      [["--cluster", nats.url], "--cluster needs --node NAME"],
      [["--cluster", "http://x:1", "--node", "x"], "--cluster must be a nats://HOST:PORT URL"],
      [["--cluster", nats.url, "--node", "a.b"], "--node must be 1-64 letters, digits, _ or -"],
      [
        ["--cluster", nats.url, "--node", "x", "--cluster-namespace", "a-b"],
        "--cluster-namespace must be 1-16 letters or digits",
      ],
      [["--limit", "natsCutoffMs=1000"], "--limit natsCutoffMs goes with --cluster"],
      [
        ["--cluster", nats.url, "--node", "x", "--limit", "presenceTtlMs=1000", "--limit", "presenceHeartbeatMs=600"],
        "presenceTtlMs (1000) must be at least twice presenceHeartbeatMs (600)",
      ],
    ];
    for (const [args, msg] of cases) {
      const p = server(args);
      expect((await p.exited).code, args.join(" ")).toBe(2);
      expect(p.stderr(), args.join(" ")).toContain(msg);
    }
  });
});

describe.runIf(natsServerInstalled() || process.env.CI)("sealroom start --cluster 3", { timeout: 180_000 }, () => {
  it("starts nats-server, three cores and a bridge listing all three; each core and the bridge take members; Ctrl-C stops all, nats-server too", async () => {
    const data = mkdtempSync(joinPath(tmpdir(), "sealroom-start-cluster-"));
    try {
      const p = runSealroom(["start", "--cluster", "3", "--core-port", "0", "--port", "0", "--data-dir", data]);
      procs.push(p);
      const natsUrl = (await p.waitFor(/nats-server with JetStream on (nats:\/\/\S+)/, 30_000))[1];
      expect(natsUrl).not.toContain(":4222");
      const url = (await p.waitFor(/Open\s+(http:\/\/\S+)/, 150_000))[1];
      const list = (await p.waitFor(/--core (\S+:\d+,\S+:\d+,\S+:\d+)/))[1];
      const ports = list.split(",").map((a) => Number(a.slice(a.lastIndexOf(":") + 1)));
      expect(new Set(ports).size).toBe(3);
      // each core takes members directly, and the bridge relays to them in turn
      for (const [i, port] of ports.entries()) {
        const { welcome, peer } = await join(port, {
          name: `direct${i}`,
          room: `sc-direct${i}`,
          id: await identity(i),
        });
        expect(welcome.room).toBe(`sc-direct${i}`);
        peer.close();
      }
      const ws = `${url.replace(/^http/, "ws")}/ws`;
      const viaBridge = await join(ws, { name: "web", room: "sc-bridge", id: await identity(3) });
      expect(viaBridge.welcome.room).toBe("sc-bridge");
      p.child.kill("SIGINT");
      expect((await p.exited).code).toBe(0);
      await viaBridge.peer.waitClosed();
      // nats-server went with it
      const gone = await new Promise<boolean>((r) => {
        const c = net.connect(Number(new URL(natsUrl).port), "127.0.0.1");
        c.once("connect", () => (c.destroy(), r(false)));
        c.once("error", () => r(true));
      });
      expect(gone).toBe(true);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("without nats-server installed: a clear error naming the package, exit 69, nothing left running", async () => {
    const p = runSealroom(["start", "--cluster", "3", "--core-port", "0", "--port", "0"], {
      env: { ...process.env, NATS_SERVER: "/nonexistent/nats-server" },
    });
    procs.push(p);
    expect((await p.exited).code).toBe(69);
    expect(p.stderr()).toContain(
      "nats-server is not installed: install the nats-server package (Debian/Ubuntu: apt-get install nats-server",
    );
  });

  it("refuses --cluster 0 and --cluster x with exit 2", async () => {
    for (const n of ["0", "x", "10"]) {
      const p = runSealroom(["start", "--cluster", n]);
      procs.push(p);
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toContain("--cluster must be a number of cores from 1 to 9");
    }
  });
});

// Key continuity through the real client binary, as a person sees it (plain
// output, not --json): when a name already seen in the room comes back with a
// different key (a reinstall, or a server adding an impostor under a known
// name), a visible WARNING appears at once, and /whois shows the full SHA-256
// fingerprint of the new signing key for comparison out of band.
// (The --json keyChanged event across runs is in tests/integration/client-cli.test.ts.)

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { BIN } from "../helpers/proc";

const home = mkdtempSync(join(tmpdir(), "sealroom-keys-"));
let core: CoreServer;
const procs: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  core = await startCore();
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  await core.stop();
});

function client(name: string, identityFile: string, json = false) {
  const p = spawn(
    process.execPath,
    [
      BIN,
      "client",
      "--name",
      name,
      "--room",
      "keys",
      "--core",
      `127.0.0.1:${core.port}`,
      "--identity",
      identityFile,
      ...(json ? ["--json"] : []),
    ],
    {
      env: { ...process.env, XDG_CONFIG_HOME: join(home, "config") },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  procs.push(p);
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  return {
    p,
    out: () => out,
    async waitFor(re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (Date.now() > deadline || p.exitCode !== null) throw new Error(`no ${re} in output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async quit() {
      p.stdin.end("/quit\n");
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)));
    },
  };
}

/** What /whois should print: SHA-256 of the sigKey SPKI DER, hex in groups of four. */
function fingerprintOfIdentityFile(file: string): string {
  const spki = (JSON.parse(readFileSync(file, "utf8")) as { sig: { spki: string } }).sig.spki;
  return createHash("sha256").update(Buffer.from(spki, "base64")).digest("hex").match(/.{4}/g)!.join(" ");
}

it("a known name back with another key: a visible WARNING at once, and /whois gives the full fingerprint of the new key", async () => {
  const bobFile1 = join(home, "bob-1.json");
  const bobFile2 = join(home, "bob-2.json");
  const alice = client("alice", join(home, "alice.json"));
  await alice.waitFor(/you are alice in room keys/);
  const bob1 = client("bob", bobFile1);
  await alice.waitFor(/bob joined \(safety \d{4} \d{4} \d{4}\)/);
  await bob1.quit();
  await alice.waitFor(/bob left/);
  expect(alice.out()).not.toMatch(/WARNING/);

  // Same name, new keys: what a reinstall looks like, and what a server
  // inventing a member under a known name would have to look like.
  const bob2 = client("bob", bobFile2);
  await alice.waitFor(/WARNING: bob is back with a different key/);
  expect(alice.out()).toMatch(/compare safety codes before trusting them \(\/whois bob\)/);

  alice.p.stdin.write("/whois bob\n");
  const fp = (await alice.waitFor(/fingerprint ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})/))[1];
  expect(fp).toBe(fingerprintOfIdentityFile(bobFile2));
  expect(fp).not.toBe(fingerprintOfIdentityFile(bobFile1));
  // And it is the same fingerprint bob sees for himself.
  bob2.p.stdin.write("/whois bob\n");
  expect((await bob2.waitFor(/fingerprint ((?:[0-9a-f]{4} ){15}[0-9a-f]{4})/))[1]).toBe(fp);

  // The warning is only for a change: bob coming back with the same key again is quiet.
  await bob2.quit();
  const warnings = (alice.out().match(/WARNING/g) ?? []).length;
  const bob3 = client("bob", bobFile2);
  await alice.waitFor(/bob joined[\s\S]*bob left[\s\S]*bob joined/);
  await new Promise((r) => setTimeout(r, 300));
  expect((alice.out().match(/WARNING/g) ?? []).length).toBe(warnings);
  await bob3.quit();
  await alice.quit();
}, 60_000);

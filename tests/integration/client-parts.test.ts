// The client's pieces that need no process: command parsing, member
// resolution, terminal safety, clocks, room ids, the identity file, and the
// TCP/TLS connector (against the real core) with certificate pinning.

import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeSelfSigned } from "../../common/tls";
import { parseCommand, resolveTarget } from "../../client/commands";
import { parseClock, safe } from "../../client/terminalText";
import { formatClock } from "../../protocol/format";
import { defaultIdentityPath, IdentityFileError, loadIdentity, loadOrCreateIdentity } from "../../client/identityFile";
import { FileKeyStore, knownKeysPathFor } from "../../client/knownKeys";
import { newRoomId } from "../../protocol/names";
import { tcpConnector } from "../../client/tcp";
import { ClientSession, type SessionEvents } from "../../protocol/session";
import { startCore } from "../helpers/core";

const dir = mkdtempSync(path.join(os.tmpdir(), "sealroom-parts-"));
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe("parseCommand", () => {
  it("parses chat, commands and their arguments", () => {
    expect(parseCommand("hello there")).toEqual({ kind: "say", text: "hello there" });
    expect(parseCommand("//not a command")).toEqual({ kind: "say", text: "/not a command" });
    expect(parseCommand("   ")).toBeNull();
    expect(parseCommand("/msg Bob Smith hi there")).toEqual({ kind: "msg", rest: "Bob Smith hi there" });
    expect(parseCommand("/WHO")).toEqual({ kind: "who" });
    expect(parseCommand("/who extra")).toMatchObject({ kind: "invalid" });
    expect(parseCommand("/play sample.mp4 --room --from 1:05")).toEqual({
      kind: "play",
      video: "sample.mp4",
      scope: "room",
      fromMs: 65_000,
    });
    expect(parseCommand("/play sample.mp4")).toEqual({ kind: "play", video: "sample.mp4", scope: "self" });
    expect(parseCommand("/play")).toMatchObject({ kind: "invalid" });
    expect(parseCommand("/play a b")).toMatchObject({ kind: "invalid" });
    expect(parseCommand("/seek 0:05")).toEqual({ kind: "seek", toMs: 5_000 });
    expect(parseCommand("/seek soon")).toMatchObject({ kind: "invalid" });
    expect(parseCommand("/frobnicate")).toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/unknown command/),
    });
  });
});

describe("resolveTarget", () => {
  const members = [
    { id: "AAAAbbbbccccddddeeeeff", name: "Bob" },
    { id: "AAAAzzzzccccddddeeeeff", name: "Bob Smith" },
    { id: "QQQQbbbbccccddddeeeeff", name: "carol" },
  ];
  it("prefers the longest name, case-insensitively, then id prefixes", () => {
    expect(resolveTarget(members, "bob smith hi", true)).toMatchObject({
      ok: true,
      member: { name: "Bob Smith" },
      text: "hi",
    });
    expect(resolveTarget(members, "BOB hi there", true)).toMatchObject({
      ok: true,
      member: { name: "Bob" },
      text: "hi there",
    });
    expect(resolveTarget(members, "QQQQ yo", true)).toMatchObject({ ok: true, member: { name: "carol" }, text: "yo" });
    expect(resolveTarget(members, "AAAA yo", true)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/fits 2/),
    });
    expect(resolveTarget(members, "carol", true)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/no text/),
    });
    expect(resolveTarget(members, "dave hi", true)).toMatchObject({ ok: false, message: "no member named dave" });
    expect(resolveTarget(members, "bob smith", false)).toMatchObject({ ok: true, member: { name: "Bob Smith" } });
  });
});

describe("format", () => {
  it("strips terminal control and bidi characters from untrusted text", () => {
    expect(safe("a\u001b[2Jb\u202eevil\u0007")).toBe("a\ufffd[2Jb\ufffdevil\ufffd");
    expect(safe("two\nlines")).toBe("two lines");
    expect(safe("two\nlines\ttab", true)).toBe("two\nlines tab");
  });
  it("parses and formats clock times", () => {
    expect(parseClock("5")).toBe(5_000);
    expect(parseClock("1.5")).toBe(1_500);
    expect(parseClock("0:05")).toBe(5_000);
    expect(parseClock("1:02:03")).toBe(3_723_000);
    expect(parseClock("0:75")).toBeNull();
    expect(parseClock("-1")).toBeNull();
    expect(formatClock(65_400)).toBe("1:05");
    expect(formatClock(3_723_000)).toBe("1:02:03");
  });
});

describe("newRoomId", () => {
  it("is 16 characters of [A-Za-z0-9] and different every time", () => {
    const ids = Array.from({ length: 200 }, () => newRoomId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("identity file", () => {
  it("is created 0600 in a 0700 directory, and loads back to the same id", async () => {
    const file = path.join(dir, "new", "id.json");
    const a = await loadOrCreateIdentity(file);
    expect(a.created).toBe(true);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    const b = await loadOrCreateIdentity(file);
    expect(b.created).toBe(false);
    expect(b.identity.id).toBe(a.identity.id);
    expect(b.identity.encKey).toBe(a.identity.encKey);
  });

  it("refuses a file others can read, garbage, and keys that do not match", async () => {
    const file = path.join(dir, "open.json");
    await loadOrCreateIdentity(file);
    await fs.chmod(file, 0o640);
    await expect(loadIdentity(file)).rejects.toThrow(/accessible by other users/);
    await fs.chmod(file, 0o600);

    const bad = path.join(dir, "bad.json");
    await fs.writeFile(bad, '{"v":1}', { mode: 0o600 });
    await expect(loadIdentity(bad)).rejects.toBeInstanceOf(IdentityFileError);

    const other = path.join(dir, "other.json");
    await loadOrCreateIdentity(other);
    const mixed = JSON.parse(await fs.readFile(file, "utf8"));
    mixed.sig.spki = JSON.parse(await fs.readFile(other, "utf8")).sig.spki;
    const mixedFile = path.join(dir, "mixed.json");
    await fs.writeFile(mixedFile, JSON.stringify(mixed), { mode: 0o600 });
    await expect(loadIdentity(mixedFile)).rejects.toThrow(/does not match/);
  });

  it("defaults under XDG_CONFIG_HOME, one file per name", () => {
    expect(defaultIdentityPath("Alice", { XDG_CONFIG_HOME: "/x" })).toBe("/x/sealroom/identity-alice.json");
    expect(defaultIdentityPath("Bob Smith", { XDG_CONFIG_HOME: "/x" })).toBe("/x/sealroom/identity-bob%20smith.json");
    expect(defaultIdentityPath("a", { XDG_CONFIG_HOME: "relative" })).toMatch(/\.config\/sealroom\/identity-a\.json$/);
  });
});

describe("known keys file", () => {
  it("sits beside the identity file and keeps ids across instances, mode 0600", async () => {
    expect(knownKeysPathFor("/x/sealroom/identity-alice.json")).toBe("/x/sealroom/known-alice.json");
    expect(knownKeysPathFor("/x/erin.json")).toBe("/x/known-erin.json");
    const file = path.join(dir, "known-test.json");
    new FileKeyStore(file).set("room", "bob", "AAAAAAAAAAAAAAAAAAAAAA");
    expect(new FileKeyStore(file).get("room", "bob")).toBe("AAAAAAAAAAAAAAAAAAAAAA");
    expect(new FileKeyStore(file).get("other", "bob")).toBeUndefined();
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    await fs.writeFile(file, "garbage");
    const errors: string[] = [];
    expect(new FileKeyStore(file, (m) => errors.push(m)).get("room", "bob")).toBeUndefined();
    expect(errors[0]).toMatch(/unreadable/);
  });
});

describe("TLS connector", () => {
  it("connects to a TLS core with the right pin and refuses a wrong one", async () => {
    const cert = makeSelfSigned({ commonName: "sealroom.test", altNames: ["127.0.0.1"] });
    const core = await startCore({ tls: { cert: cert.certPem, key: cert.keyPem } });
    const { identity } = await loadOrCreateIdentity(path.join(dir, "tls.json"));
    const run = async (pin: string | undefined) => {
      const s = new ClientSession({
        identity,
        name: "tls",
        room: "tlsroom",
        agent: "test",
        reconnect: false,
        connect: tcpConnector({ host: "127.0.0.1", port: core.port, tls: pin === undefined ? {} : { pin } }),
      });
      const result = new Promise<string>((resolve) => {
        s.on("welcome", () => resolve("online"));
        s.on("disconnected", (d: SessionEvents["disconnected"]) => resolve(`closed: ${d.reason}`));
      });
      s.start();
      const r = await result;
      s.stop();
      return r;
    };
    try {
      expect(await run(cert.fingerprint256)).toBe("online");
      expect(await run(cert.fingerprint256.replace(/:/g, "").toLowerCase())).toBe("online");
      expect(await run("00".repeat(32))).toMatch(/does not match --pin/);
      // Without a pin, CA verification rejects the self-signed certificate.
      expect(await run(undefined)).toMatch(/self.signed|certificate/i);
    } finally {
      await core.stop();
    }
  });
});

// Unit tests of client/exitPolicy.ts (which event ends the run, with which
// exit code and message) and client/tofu.ts (the core certificate trusted on
// first use), fed events and a store by hand.

import { describe, expect, it } from "vitest";
import { EXIT } from "../../common/exit";
import { ExitPolicy, fileExit, identityExit } from "../../client/exitPolicy";
import { IdentityFileError } from "../../client/identityFile";
import { coreTrust, type PinStore } from "../../client/tofu";

const down = (attempt: number, everOnline = false) => ({
  reason: "ECONNREFUSED 127.0.0.1:9",
  retryInMs: 250,
  attempt,
  everOnline,
});

describe("ExitPolicy", () => {
  it("gives up with 69 on the third failed attempt before ever being online", () => {
    const p = new ExitPolicy("127.0.0.1:9");
    expect(p.disconnected(down(1))).toBeNull();
    expect(p.disconnected(down(2))).toBeNull();
    expect(p.disconnected(down(3))).toEqual({
      code: EXIT.unavailable,
      message: "core unreachable at 127.0.0.1:9 after 3 attempts (ECONNREFUSED 127.0.0.1:9)",
    });
  });

  it("keeps reconnecting once it was online", () => {
    const p = new ExitPolicy("h:1");
    for (let i = 1; i <= 10; i++) expect(p.disconnected(down(i, true))).toBeNull();
  });

  it("names the fatal error that came before the failed attempts, with 1", () => {
    const p = new ExitPolicy("h:1", 2);
    p.error({ t: "error", code: "rate", message: "slow down", fatal: false });
    p.error({ t: "error", code: "server_full", message: "full", fatal: true });
    expect(p.disconnected(down(1))).toBeNull();
    expect(p.disconnected(down(2))).toEqual({ code: EXIT.failure, message: "fatal error server_full: full" });
  });

  it("a session closed without us leaving is a failure, with the server's code when there was one", () => {
    const p = new ExitPolicy("h:1");
    expect(
      p.closed({
        reason: "replaced",
        error: { t: "error", code: "replaced", message: "signed in elsewhere", fatal: true },
      }),
    ).toEqual({
      code: EXIT.failure,
      message: "fatal error replaced: signed in elsewhere",
    });
    expect(p.closed({ reason: "gave up", error: null })).toEqual({
      code: EXIT.failure,
      message: "session closed: gave up",
    });
  });

  it("an untrusted certificate is 77, leaving is 0 with no message", () => {
    const p = new ExitPolicy("h:1");
    expect(p.untrusted("certificate changed")).toEqual({ code: EXIT.untrusted, message: "certificate changed" });
    expect(p.left()).toEqual({ code: EXIT.ok });
    expect([EXIT.ok, EXIT.failure, EXIT.unavailable, EXIT.untrusted]).toEqual([0, 1, 69, 77]);
  });

  it("files: 73 for an unusable identity or flag file, 1 for anything else", () => {
    expect(identityExit(new IdentityFileError("identity file x is accessible by other users"))).toEqual({
      code: EXIT.cantCreate,
      message: "identity file x is accessible by other users",
    });
    expect(identityExit(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" })).code).toBe(73);
    expect(identityExit(new Error("crypto went wrong")).code).toBe(EXIT.failure);
    expect(fileExit("cannot read --script s")).toEqual({ code: 73, message: "cannot read --script s" });
  });
});

class MapPins implements PinStore {
  readonly map = new Map<string, string>();
  get(space: string, key: string) {
    return this.map.get(`${space}/${key}`);
  }
  set(space: string, key: string, value: string) {
    this.map.set(`${space}/${key}`, value);
  }
}

describe("coreTrust", () => {
  it("remembers the first certificate per core and says so once", () => {
    const pins = new MapPins();
    const told: string[] = [];
    const t = coreTrust(pins, "core.example:7700", (fp) => told.push(fp));
    expect(t.known()).toBeUndefined();
    t.remember("AA:BB");
    expect(t.known()).toBe("AA:BB");
    expect(told).toEqual(["AA:BB"]);
    // A pin replacing what was remembered is stored, but is no first use.
    t.remember("CC:DD");
    expect(t.known()).toBe("CC:DD");
    expect(told).toEqual(["AA:BB"]);
    // Another core has its own entry.
    expect(coreTrust(pins, "[::1]:7700", () => {}).known()).toBeUndefined();
    expect([...pins.map.keys()]).toEqual(["tls/core.example:7700"]);
  });
});

// Unit tests of client/args.ts parseClientArgs: good flags give a typed
// config, bad ones a one-line UsageError naming the flag.

import { describe, expect, it } from "vitest";
import { UsageError } from "../../common/args";
import { parseClientArgs, type ClientConfig } from "../../client/args";

const env = { XDG_CONFIG_HOME: "/cfg" };
const parse = (...argv: string[]) => parseClientArgs(argv, env) as ClientConfig;

function usageError(argv: string[]): string {
  try {
    parseClientArgs(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    const message = (e as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error(`no UsageError for ${argv.join(" ")}`);
}

describe("parseClientArgs", () => {
  it("gives the defaults for just --name", () => {
    expect(parse("--name", "  Alice ")).toEqual({
      name: "Alice",
      room: null,
      core: { host: "127.0.0.1", port: 7700 },
      coreText: "127.0.0.1:7700",
      cores: [{ host: "127.0.0.1", port: 7700, text: "127.0.0.1:7700" }],
      identityFile: "/cfg/sealroom/identity-alice.json",
      tls: false,
      pin: null,
      json: false,
      script: null,
      record: null,
      secret: null,
      webOrigin: "http://127.0.0.1:7780",
    });
  });

  it("takes every flag", () => {
    const pin = "ab".repeat(32);
    const c = parse(
      "--name",
      "bob",
      "--room",
      "r_1-x",
      "--core",
      "[::1]:7701",
      "--identity",
      "/k/id.json",
      "--pin",
      pin,
      "--json",
      "--script",
      "s.txt",
      "--record",
      "frames",
    );
    expect(c).toEqual({
      name: "bob",
      room: "r_1-x",
      core: { host: "::1", port: 7701 },
      coreText: "[::1]:7701",
      cores: [{ host: "::1", port: 7701, text: "[::1]:7701" }],
      identityFile: "/k/id.json",
      tls: true,
      pin,
      json: true,
      script: "s.txt",
      record: "frames",
      secret: null,
      webOrigin: "http://[::1]:7780",
    });
    expect(parse("--name", "bob", "--tls")).toMatchObject({ tls: true, pin: null });
  });

  it("takes a cluster's cores as a comma-separated --core, in order", () => {
    const c = parse("--name", "bob", "--core", "10.0.0.1:7700, [::1]:7701,core-c.example:7702");
    expect(c).toMatchObject({
      core: { host: "10.0.0.1", port: 7700 },
      coreText: "10.0.0.1:7700",
      cores: [
        { host: "10.0.0.1", port: 7700, text: "10.0.0.1:7700" },
        { host: "::1", port: 7701, text: "[::1]:7701" },
        { host: "core-c.example", port: 7702, text: "core-c.example:7702" },
      ],
    });
    expect(usageError(["--name", "a", "--core", "a:1,,b:2"])).toBe(
      "--core must be HOST:PORT or a comma-separated list of them, got 'a:1,,b:2'",
    );
    expect(usageError(["--name", "a", "--core", "a:1,b"])).toBe("--core must be HOST:PORT, got 'b'");
    expect(usageError(["--name", "a", "--core", "a:1,A:1"])).toBe("--core lists A:1 twice");
    expect(usageError(["--name", "a", "--core", Array.from({ length: 65 }, (_, i) => `h:${i + 1}`).join(",")])).toBe(
      "--core takes at most 64 cores, got 65",
    );
  });

  it("takes a room link, or a room with its secret, or --new-link; refuses mixes with one line each", () => {
    const secret = "A".repeat(22);
    expect(parse("--name", "a", "--link", `https://h.example:7780/r/room1#${secret}`)).toMatchObject({
      room: "room1",
      secret,
      webOrigin: "https://h.example:7780",
    });
    expect(parse("--name", "a", "--room", "room1", "--secret", secret, "--web", "https://w.example/")).toMatchObject({
      room: "room1",
      secret,
      webOrigin: "https://w.example",
    });
    expect(parse("--name", "a", "--new-link")).toMatchObject({ room: null, secret: "new" });
    expect(usageError(["--name", "a", "--link", "https://h/r/room1"])).toMatch(/secret after # is missing/);
    expect(usageError(["--name", "a", "--link", "nonsense"])).toMatch(/^--link must be a room link/);
    expect(usageError(["--name", "a", "--link", `https://h/r/a#${secret}`, "--room", "b"])).toBe(
      "--room and --link name different rooms",
    );
    expect(usageError(["--name", "a", "--secret", secret])).toBe("--secret needs --room (or use --link)");
    expect(usageError(["--name", "a", "--new-link", "--room", "r"])).toMatch(/^--new-link makes a new room/);
    expect(usageError(["--name", "a", "--web", "ftp://x"])).toMatch(/^--web must be an origin/);
  });

  it("answers help for --help and -h, before checking anything else", () => {
    expect(parseClientArgs(["--help"], env)).toBe("help");
    expect(parseClientArgs(["-h", "--room", "no/slash"], env)).toBe("help");
  });

  it("refuses bad flags with one line each", () => {
    expect(usageError([])).toBe("--name is required");
    expect(usageError(["--room", "r"])).toBe("--name is required");
    expect(usageError(["--name", "a/b"])).toMatch(/^--name: /);
    expect(usageError(["--name", "x".repeat(33)])).toMatch(/^--name: /);
    expect(usageError(["--name", "a", "--room", "no/slashes"])).toBe(
      "--room must be 1 to 64 characters of A-Z a-z 0-9 _ -",
    );
    expect(usageError(["--name", "a", "--core", "localhost"])).toBe("--core must be HOST:PORT, got 'localhost'");
    expect(usageError(["--name", "a", "--core", "h:70000"])).toBe("--core must be HOST:PORT, got 'h:70000'");
    expect(usageError(["--name", "a", "--pin", "abcd"])).toBe(
      "--pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)",
    );
    expect(usageError(["--name", "a", "--bogus"])).toMatch(/Unknown option '--bogus'/);
    expect(usageError(["--name"])).toMatch(/--name/);
    expect(usageError(["--name", "a", "extra"])).toMatch(/extra/);
  });
});

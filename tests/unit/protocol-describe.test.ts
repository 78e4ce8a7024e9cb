// Unit tests of protocol/describe.ts: the words the terminal client and the
// web app share for names, member order, leaving and stream ends.

import { describe, expect, it } from "vitest";
import {
  agentName,
  compareMembers,
  displayName,
  leftWords,
  shortId,
  streamEndWords,
  type Listed,
} from "../../protocol/describe";

describe("displayName", () => {
  it("is the name when there is one, else 'unknown member' and the first 8 characters of the id", () => {
    expect(displayName("bob", "Zm9vYmFyYmF6cXV4")).toBe("bob");
    expect(displayName(null, "Zm9vYmFyYmF6cXV4")).toBe("unknown member Zm9vYmFy");
    expect(displayName(undefined, "Zm9vYmFyYmF6cXV4")).toBe("unknown member Zm9vYmFy");
    // An empty name must not print as nothing at all.
    expect(displayName("", "Zm9vYmFyYmF6cXV4")).toBe("unknown member Zm9vYmFy");
    expect(shortId("abc")).toBe("abc");
  });

  it("says 'unknown' for a member that named no agent", () => {
    expect(agentName(undefined)).toBe("unknown");
    expect(agentName(null)).toBe("unknown");
    expect(agentName("web/0.1.0")).toBe("web/0.1.0");
  });
});

describe("compareMembers", () => {
  it("lists yourself first, then by who came first, then by name", () => {
    const m = (name: string, since: number, self = false): Listed => ({ name, since, self });
    const list = [m("zed", 1), m("carol", 5), m("alice", 9, true), m("bob", 5), m("Amy", 5)];
    expect([...list].sort(compareMembers).map((x) => x.name)).toEqual(["alice", "zed", "Amy", "bob", "carol"]);
  });
});

describe("leftWords and streamEndWords", () => {
  it("have words for every reason the wire can carry", () => {
    expect((["quit", "closed", "timeout", "error"] as const).map(leftWords)).toEqual([
      "left",
      "disconnected",
      "timed out",
      "was disconnected after an error",
    ]);
    expect((["finished", "stopped", "replaced", "error", "disconnected"] as const).map(streamEndWords)).toEqual([
      "finished",
      "stopped",
      "replaced by another video",
      "stopped by a server error",
      "interrupted: the connection dropped",
    ]);
  });
});

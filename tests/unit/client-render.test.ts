// Unit tests of client/render.ts: the exact lines and JSON events the
// terminal client prints for session events. Pure; no session at all.

import { describe, expect, it } from "vitest";
import * as render from "../../client/render";
import { entry, streamInfo } from "../helpers/fakeSession";

const limits = { maxFrame: 1, maxEnvelope: 2, maxRecipients: 3 };
const self = entry("alice", "self0000id", {
  self: true,
  agent: "sealroom-cli/0.1.0",
  since: 5,
  safety: "0000 0000 0001",
});
const bob = entry("bob", "bob00000id", { agent: "web/0.1.0", since: 3, safety: "1111 2222 3333" });
const carol = entry("carol", "carol000id", { since: 1, safety: "4444 5555 6666" });
const mallory = entry("mal\u001b[2J", "mall0000id", { verified: false, since: 2 });

describe("members", () => {
  it("welcome: who you are, who is here in member order, and a warning per unverified member", () => {
    const lines = render.welcome(
      {
        id: self.member.id,
        room: "r1",
        members: [self, bob, carol, mallory],
        limits,
        stream: null,
        reconnected: false,
      },
      "alice",
    );
    expect(lines.map((l) => l.human)).toEqual([
      "* you are alice in room r1 (safety 0000 0000 0001)\n* here: carol (safety 4444 5555 6666), mal\ufffd[2J (safety 1234 5678 9012), bob (safety 1111 2222 3333)",
      "WARNING: mal\ufffd[2J has keys that do not verify (id mall0000id); nothing will be sent to them and their messages are not shown",
    ]);
    expect(lines[0].json).toMatchObject({ event: "welcome", id: "self0000id", room: "r1", reconnected: false, limits });
    // The JSON keeps the core's order and the raw names.
    expect((lines[0].json.members as { name: string }[]).map((m) => m.name)).toEqual([
      "alice",
      "bob",
      "carol",
      "mal\u001b[2J",
    ]);
    expect(lines[1].json).toEqual({ event: "unverified", id: "mall0000id", name: "mal\u001b[2J" });
  });

  it("welcome alone, and after a reconnect", () => {
    expect(
      render.welcome({ id: "s", room: "r1", members: [self], limits, stream: null, reconnected: false }, "alice")[0]
        .human,
    ).toBe("* you are alice in room r1 (safety 0000 0000 0001)\n* nobody else is here yet");
    expect(
      render
        .welcome({ id: "s", room: "r1", members: [self, bob], limits, stream: null, reconnected: true }, "alice")
        .map((l) => l.human),
    ).toEqual(["* reconnected to room r1"]);
  });

  it("joined: a line with the safety code, none when back again, a warning when unverified", () => {
    const [first] = render.joined(bob, false);
    expect(first.human).toBe("* bob joined (safety 1111 2222 3333)");
    expect(first.json).toEqual({
      event: "joined",
      again: false,
      id: "bob00000id",
      name: "bob",
      safety: "1111 2222 3333",
      verified: true,
      agent: "web/0.1.0",
      self: false,
    });
    expect(render.joined(bob, true).map((l) => l.human)).toEqual([null]);
    expect(render.joined(mallory, false).map((l) => [l.json.event, l.human === null])).toEqual([
      ["joined", true],
      ["unverified", false],
    ]);
  });

  it("left: the shared words per reason; a stranger by id", () => {
    expect(render.left("bob00000id", "quit", bob).human).toBe("* bob left");
    expect(render.left("bob00000id", "closed", bob).human).toBe("* bob disconnected");
    expect(render.left("bob00000id", "timeout", bob).human).toBe("* bob timed out");
    expect(render.left("bob00000id", "error", bob).human).toBe("* bob was disconnected after an error");
    const stranger = render.left("zzzz9999\u0007more", "quit", null);
    expect(stranger.human).toBe("* unknown member zzzz9999 left");
    expect(stranger.json).toEqual({ event: "left", id: "zzzz9999\u0007more", name: null, reason: "quit" });
  });

  it("/who in member order, with agents and a note when not online", () => {
    const l = render.whoList("r1", "reconnecting", [bob, carol, self]);
    expect(l.human).toBe(
      "* 3 member(s) in room r1 (as last seen; reconnecting):\n" +
        "  alice (you)  safety 0000 0000 0001  agent sealroom-cli/0.1.0  id self0000\n" +
        "  carol  safety 4444 5555 6666  agent unknown  id carol000\n" +
        "  bob  safety 1111 2222 3333  agent web/0.1.0  id bob00000",
    );
    expect((l.json.members as { name: string }[]).map((m) => m.name)).toEqual(["alice", "carol", "bob"]);
    expect(render.whoList("r1", "online", [mallory]).human).toBe(
      "* 1 member(s) in room r1:\n  mal\ufffd[2J  safety 1234 5678 9012  UNVERIFIED  agent unknown  id mall0000",
    );
  });

  it("/whois with the full fingerprint", () => {
    const l = render.whois(carol, "aaaa bbbb");
    expect(l.human).toBe(
      "* carol\n  id          carol000id\n  safety      4444 5555 6666\n  fingerprint aaaa bbbb\n  verified    yes\n  agent       unknown\n  here since  1970-01-01T00:00:00.001Z",
    );
    expect(l.json).toMatchObject({ event: "whois", id: "carol000id", fingerprint: "aaaa bbbb", since: 1, agent: null });
  });

  it("keyChanged: a WARNING naming /whois", () => {
    expect(render.keyChanged({ room: "r1", name: "bob", oldId: "o", newId: "n" }).human).toBe(
      "WARNING: bob is back with a different key (safety code changed); compare safety codes before trusting them (/whois bob)",
    );
  });
});

describe("messages", () => {
  const base = { from: "bob00000id", name: "bob", mid: "m1", to: ["self0000id"], at: 9, direct: false };
  it("indents continuation lines under the label and makes text terminal-safe", () => {
    const l = render.message({ ...base, ok: true, text: "hi\nthere\u0007", ts: 8 });
    expect(l.human).toBe("<bob> hi\n      there\ufffd");
    expect(l.json).toEqual({ event: "message", ...base, verified: true, text: "hi\nthere\u0007", ts: 8 });
    expect(render.message({ ...base, direct: true, ok: true, text: "psst", ts: 8 }).human).toBe("<bob> (direct) psst");
  });

  it("never shows an unverifiable message, and names an unknown sender by id", () => {
    const l = render.message({ ...base, name: null, from: "gone0000xx", ok: false, reason: "bad signature" });
    expect(l.human).toBe("WARNING: unverifiable message from unknown member gone0000 (bad signature); not shown");
    expect(l.json).toMatchObject({ verified: false, reason: "bad signature" });
    expect(l.json).not.toHaveProperty("text");
  });

  it("send failures, errors and malformed input get a line; acks, sends and fatal errors do not", () => {
    expect(render.sendFailed({ mid: "m1", code: "too_big", message: "no\u0007" }).human).toBe(
      "! a message was not delivered (too_big: no\ufffd)",
    );
    expect(render.error({ t: "error", code: "rate", message: "slow down", fatal: false }).human).toBe(
      "! rate: slow down",
    );
    const fatal = render.error({ t: "error", code: "name_taken", message: "taken", ref: "hello", fatal: true });
    expect(fatal).toEqual({
      json: { event: "error", code: "name_taken", message: "taken", ref: "hello", fatal: true },
      human: null,
    });
    expect(render.invalid("junk\u0000").human).toBe("! dropped a malformed message from the server: junk\ufffd");
    expect(render.ack("m1", 2)).toEqual({ json: { event: "ack", mid: "m1", delivered: 2 }, human: null });
    expect(render.sent("m1", "hi", null).human).toBeNull();
  });

  it("disconnected: unreachable before ever online, lost after", () => {
    expect(
      render.disconnected({ reason: "ECONNREFUSED", retryInMs: 1234, attempt: 1, everOnline: false }, "127.0.0.1:7700")
        .human,
    ).toBe("* cannot reach the core at 127.0.0.1:7700 (ECONNREFUSED); retrying in 1.2 s");
    const lost = render.disconnected({ reason: "gone", retryInMs: null, attempt: 2, everOnline: true }, "x:1");
    expect(lost).toEqual({
      json: { event: "disconnected", reason: "gone", retryInMs: null, attempt: 2 },
      human: "* connection lost (gone)",
    });
  });
});

describe("video", () => {
  it("the catalogue, or that there is none", () => {
    const items = [
      {
        id: "sample.mp4",
        title: "Sample \u0007",
        durationMs: 65_000,
        width: 640,
        height: 360,
        fps: 30,
        bytes: 1_234_567,
      },
    ];
    expect(render.videos(items).human).toBe(
      '* 1 video(s):\n  sample.mp4  "Sample \ufffd"  1:05  640x360  30 fps  1.2 MB',
    );
    expect(render.videos([]).human).toBe("* the server has no videos");
  });

  it("stream start, state and end, by title when watched and by sid when not", () => {
    expect(render.stream(streamInfo(), bob).human).toBe(
      "* sample.mp4 playing at 0:00/2:05 (sid 7, room stream started by bob, 640x360)",
    );
    expect(render.stream(streamInfo({ scope: "self", by: "self0000id" }), self).human).toBe(
      "* sample.mp4 playing at 0:00/2:05 (sid 7, just for you, 640x360)",
    );
    expect(render.stream(streamInfo({ by: "nobody00xx" }), undefined).human).toMatch(
      /started by unknown member nobody00,/,
    );
    const st = { sid: 7, state: "paused" as const, posMs: 5_000, by: "bob00000id" };
    expect(render.streamState(st, "sample.mp4", bob).human).toBe("* sample.mp4 paused at 0:05 (by bob)");
    expect(render.streamState(st, undefined, undefined).human).toBe(
      "* stream 7 paused at 0:05 (by unknown member bob00000)",
    );
    expect(render.streamEnd(7, "replaced", "sample.mp4")).toEqual({
      json: { event: "streamEnd", sid: 7, reason: "replaced" },
      human: "* sample.mp4 replaced by another video",
    });
    expect(render.streamEnd(9, "disconnected", undefined).human).toBe("* stream 9 interrupted: the connection dropped");
  });

  it("recorded frames and stats are JSON only", () => {
    const f = { sid: 7, frame: 3, ptsMs: 99, jpeg: new Uint8Array(12) };
    expect(render.recordedFrame(f, "/d/7-000003.jpg")).toEqual({
      json: { event: "frame", sid: 7, frame: 3, ptsMs: 99, bytes: 12, file: "/d/7-000003.jpg" },
      human: null,
    });
    expect(render.streamStats({ sid: 7, sent: 10, dropped: 2 }, 29, 1_000)).toEqual({
      json: { event: "streamStats", sid: 7, sent: 10, dropped: 2, fps: 29, posMs: 1_000 },
      human: null,
    });
  });
});

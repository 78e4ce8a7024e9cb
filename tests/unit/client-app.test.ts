// Unit tests of client/app.ts with a fake session: events reach the output
// as lines and status, and commands become session calls. No sockets.

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientApp } from "../../client/app";
import type { EventJson, Output } from "../../client/output";
import { entry, FakeSession, streamInfo } from "../helpers/fakeSession";

class RecordingOutput implements Output {
  readonly events: { json: EventJson; human: string | null }[] = [];
  readonly statuses: (string | null)[] = [];
  event(json: EventJson, human: string | null): void {
    this.events.push({ json, human });
  }
  status(text: string | null): void {
    this.statuses.push(text);
  }
  close(): void {}
  humans(): string[] {
    return this.events.flatMap((e) => (e.human === null ? [] : [e.human]));
  }
  last(): { json: EventJson; human: string | null } {
    return this.events[this.events.length - 1];
  }
}

function setup(recorder?: { write(sid: number, frame: number, jpeg: Uint8Array): string | null }) {
  const clock = { t: 50_000 };
  const s = new FakeSession("alice", "r1", "self0000id");
  const out = new RecordingOutput();
  const app = new ClientApp({
    session: s,
    out,
    core: "127.0.0.1:7700",
    now: () => clock.t,
    ...(recorder ? { recorder } : {}),
  });
  s.add(entry("alice", "self0000id", { self: true }));
  const bob = s.add(entry("Bob Smith", "bob00000id", { since: 2 }));
  s.add(entry("carol", "carol000id", { since: 3 }));
  return { s, out, app, clock, bob };
}

describe("ClientApp events", () => {
  it("prints each session event through render, in order", () => {
    const { s, out, bob } = setup();
    s.emit("state", "online");
    s.emit("joined", { entry: bob, again: false });
    s.emit("left", { id: bob.member.id, reason: "timeout", entry: bob });
    s.emit("disconnected", { reason: "EPIPE", retryInMs: 500, attempt: 1, everOnline: true });
    expect(out.events.map((e) => e.json.event)).toEqual(["state", "joined", "left", "disconnected"]);
    expect(out.humans()).toEqual([
      "* Bob Smith joined (safety 1234 5678 9012)",
      "* Bob Smith timed out",
      "* connection lost (EPIPE); retrying in 0.5 s",
    ]);
  });

  it("names who started and changed a stream from the session's members, and keeps the status line current", () => {
    const { s, out, clock } = setup();
    s.emit("stream", streamInfo({ sid: 7, by: "bob00000id", durationMs: 60_000 }));
    expect(out.last().human).toBe(
      "* sample.mp4 playing at 0:00/1:00 (sid 7, room stream started by Bob Smith, 640x360)",
    );
    expect(out.statuses.at(-1)).toBe("playing sample.mp4 0:00/1:00 0 fps, 0 dropped");
    s.emit("frame", { sid: 7, frame: 1, ptsMs: 1_000, jpeg: new Uint8Array(3) });
    clock.t += 100;
    s.emit("streamStats", { sid: 7, sent: 30, dropped: 3 });
    expect(out.last().json).toEqual({ event: "streamStats", sid: 7, sent: 30, dropped: 3, fps: 1, posMs: 1_000 });
    expect(out.statuses.at(-1)).toBe("playing sample.mp4 0:01/1:00 1 fps, 3 dropped");
    s.emit("streamState", { sid: 7, state: "paused", posMs: 30_000, by: "carol000id" });
    expect(out.last().human).toBe("* sample.mp4 paused at 0:30 (by carol)");
    // Stats of a stream not watched are not shown.
    const n = out.events.length;
    s.emit("streamStats", { sid: 99, sent: 1, dropped: 0 });
    expect(out.events).toHaveLength(n);
    s.emit("streamEnd", { sid: 7, reason: "finished" });
    expect(out.last().human).toBe("* sample.mp4 finished");
    expect(out.statuses.at(-1)).toBeNull();
  });

  it("records frames only with a recorder, one JSON event each", () => {
    const written: string[] = [];
    const { s, out } = setup({ write: (sid, frame) => (written.push(`${sid}-${frame}`), `/d/${sid}-${frame}.jpg`) });
    s.emit("stream", streamInfo({ sid: 7 }));
    s.emit("frame", { sid: 7, frame: 4, ptsMs: 132, jpeg: new Uint8Array(9) });
    expect(written).toEqual(["7-4"]);
    expect(out.last().json).toEqual({ event: "frame", sid: 7, frame: 4, ptsMs: 132, bytes: 9, file: "/d/7-4.jpg" });
    const plain = setup();
    plain.s.emit("frame", { sid: 7, frame: 4, ptsMs: 132, jpeg: new Uint8Array(9) });
    expect(plain.out.events).toHaveLength(0);
  });
});

describe("ClientApp commands", () => {
  it("sends chat to everyone and /msg to one member, by name with spaces", async () => {
    const { s, out, app } = setup();
    expect(await app.line("hello all")).toBeUndefined();
    expect(await app.line("/msg bob smith just you")).toBeUndefined();
    expect(s.calls).toEqual([
      { call: "sendText", text: "hello all", to: undefined },
      { call: "sendText", text: "just you", to: ["bob00000id"] },
    ]);
    expect(out.events.map((e) => e.json)).toEqual([
      { event: "sent", mid: "mid1", text: "hello all", to: null },
      { event: "sent", mid: "mid2", text: "just you", to: ["bob00000id"] },
    ]);
  });

  it("refuses /msg to yourself or to nobody, and blank lines do nothing", async () => {
    const { s, out, app } = setup();
    await app.line("/msg alice hi");
    await app.line("/msg dave hi");
    await app.line("   ");
    expect(s.calls).toEqual([]);
    expect(out.humans()).toEqual(["! that is you", "! no member named dave"]);
  });

  it("a send the session refuses becomes a command error, not a crash", async () => {
    const { s, out, app } = setup();
    s.sendText = () => {
      throw new Error("not connected");
    };
    expect(await app.line("hi")).toBeUndefined();
    expect(out.last()).toEqual({ json: { event: "commandError", message: "not connected" }, human: "! not connected" });
  });

  it("/who and /whois describe members; /whois gives the SHA-256 of the signing key", async () => {
    const { out, app, bob } = setup();
    await app.line("/who");
    expect((out.last().json.members as { name: string }[]).map((m) => m.name)).toEqual(["alice", "Bob Smith", "carol"]);
    await app.line("/whois bob smith");
    const hex = createHash("sha256").update(Buffer.from(bob.member.sigKey, "base64")).digest("hex");
    expect(out.last().json).toMatchObject({
      event: "whois",
      id: "bob00000id",
      fingerprint: hex.match(/.{4}/g)!.join(" "),
    });
    await app.line("/whois zed");
    expect(out.last().human).toBe("! no member named zed");
  });

  it("controls only the current stream the session still has", async () => {
    const { s, out, app } = setup();
    await app.line("/pause");
    expect(out.last().human).toBe("! no stream is playing (/play ID first)");
    await app.line("/play sample.mp4 --room --from 0:05");
    s.streams.set(7, streamInfo({ sid: 7 }));
    s.emit("stream", streamInfo({ sid: 7 }));
    await app.line("/pause");
    await app.line("/seek 1:00");
    await app.line("/resume");
    await app.line("/stop");
    expect(s.calls).toEqual([
      { call: "play", video: "sample.mp4", scope: "room", fromMs: 5_000 },
      { call: "control", sid: 7, action: "pause", toMs: undefined },
      { call: "control", sid: 7, action: "seek", toMs: 60_000 },
      { call: "control", sid: 7, action: "resume", toMs: undefined },
      { call: "control", sid: 7, action: "stop", toMs: undefined },
    ]);
    // Gone from the session (e.g. after a reconnect) means not controllable.
    s.streams.clear();
    await app.line("/stop");
    expect(out.last().human).toBe("! no stream is playing (/play ID first)");
  });

  it("/videos asks the session, /help prints the commands, /quit resolves quit, bad commands say why", async () => {
    const { s, out, app } = setup();
    await app.line("/videos");
    expect(s.calls).toEqual([{ call: "requestVideos" }]);
    await app.line("/help");
    expect(out.last().human).toMatch(/^Commands:\n/);
    await app.line("/frob");
    expect(out.last().human).toBe("! unknown command /frob (try /help)");
    expect(await app.line("/quit")).toBe("quit");
  });
});

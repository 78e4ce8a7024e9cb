// Unit tests of the web app's room stores (web/src/lib/stores/*.svelte.ts),
// compiled by the Svelte plugin as the browser gets them: a fake session (an
// emitter with the session's events, and the few calls the stores make) is fed
// to each store, and the test asserts on the store's state.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Emitter, type Listener } from "../../protocol/emitter";
import type { Member } from "../../protocol/messages";
import type { MemberEntry, SessionEvents } from "../../protocol/session";
import { ChatStore } from "../../web/src/lib/stores/chat.svelte";
import { ConnectionStore } from "../../web/src/lib/stores/connection.svelte";
import { MembersStore } from "../../web/src/lib/stores/members.svelte";
import { NoticesStore, TOAST_MS } from "../../web/src/lib/stores/notices.svelte";
import { WatchingStore } from "../../web/src/lib/stores/watching.svelte";

const SELF = "self".padEnd(43, "S");
const BOB = "bob0".padEnd(43, "B");
const CAROL = "carol".padEnd(43, "C");

/** Stands in for ClientSession: the events, the member map and the calls the stores make. */
class FakeSession {
  readonly selfId = SELF;
  readonly members = new Map<string, MemberEntry>();
  readonly sends: { text: string; to: readonly string[] | undefined; mid: string }[] = [];
  readonly calls: string[] = [];
  /** What the next sendText / requestVideos / play / control throws. */
  failWith: string | null = null;
  readonly listenerErrors: unknown[] = [];
  private readonly events = new Emitter<SessionEvents>((_e, err) => this.listenerErrors.push(err));
  private seq = 0;

  on<E extends keyof SessionEvents>(event: E, listener: Listener<SessionEvents[E]>): () => void {
    return this.events.on(event, listener);
  }

  emit<E extends keyof SessionEvents>(event: E, payload: SessionEvents[E]): void {
    this.events.emit(event, payload);
  }

  sendText(text: string, to?: readonly string[]): string {
    this.fail();
    const mid = `mid-${++this.seq}`;
    this.sends.push({ text, to, mid });
    return mid;
  }

  requestVideos(): void {
    this.fail();
    this.calls.push("videos");
  }

  play(video: string, scope: "self" | "room", fromMs?: number): void {
    this.fail();
    this.calls.push(`play ${video} ${scope} ${fromMs}`);
  }

  control(sid: number, action: string, toMs?: number): void {
    this.fail();
    this.calls.push(`control ${sid} ${action} ${toMs}`);
  }

  // ---- the core's side, as the real session reports it ----

  welcome(entries: MemberEntry[], reconnected = false): void {
    this.members.clear();
    for (const e of entries) this.members.set(e.member.id, e);
    this.emit("state", "online");
    const limits = { maxFrame: 1, maxEnvelope: 1, maxRecipients: 1 };
    this.emit("welcome", { id: SELF, room: "r", members: entries, limits, stream: null, reconnected });
  }

  join(e: MemberEntry, again = false): void {
    this.members.set(e.member.id, e);
    this.emit("joined", { entry: e, again });
  }

  leave(id: string, reason: SessionEvents["left"]["reason"] = "quit"): void {
    const entry = this.members.get(id) ?? null;
    this.members.delete(id);
    this.emit("left", { id, reason, entry });
  }

  private fail(): void {
    const why = this.failWith;
    if (why === null) return;
    this.failWith = null;
    throw new Error(why);
  }
}

function entry(
  id: string,
  name: string,
  p: { since?: number; verified?: boolean; agent?: string | undefined } = {},
): MemberEntry {
  const member: Member = {
    id,
    name,
    encKey: "e",
    sigKey: `sig-${name}`,
    encKeySig: "s",
    agent: p.agent ?? "test/1",
    since: p.since ?? 100,
  };
  if ("agent" in p && p.agent === undefined) delete member.agent;
  return { member, verified: p.verified ?? true, safetyCode: `code-${name}`, self: id === SELF };
}

const me = () => entry(SELF, "alice", { since: 300 });
const bob = (p = {}) => entry(BOB, "bob", { since: 100, ...p });
const carol = (p = {}) => entry(CAROL, "carol", { since: 200, ...p });

/** The five stores on one fake session, built in the room store's order. */
function room() {
  const s = new FakeSession();
  const connection = new ConnectionStore(s);
  const members = new MembersStore(s);
  const chat = new ChatStore(s, members, { id: SELF, name: "alice" });
  const notices = new NoticesStore(s, members, chat);
  const watching = new WatchingStore(s, connection, notices);
  return { s, connection, members, chat, notices, watching };
}

let current: FakeSession | null = null;
function make() {
  const r = room();
  current = r.s;
  return r;
}
afterEach(() => {
  expect(current?.listenerErrors ?? []).toEqual([]);
  current = null;
});

describe("connection store", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("follows the state, and says why it is down and when it retries until it is back", () => {
    const { s, connection } = make();
    expect(connection.phase).toBe("connecting");
    s.emit("state", "reconnecting");
    s.emit("disconnected", { reason: "connection lost", retryInMs: 2_000, attempt: 0, everOnline: false });
    expect(connection).toMatchObject({
      phase: "reconnecting",
      statusDetail: "connection lost",
      retryAt: 1_002_000,
      everOnline: false,
    });
    s.emit("disconnected", { reason: "refused", retryInMs: null, attempt: 1, everOnline: false });
    expect(connection.retryAt).toBeNull();
    s.welcome([me()]);
    expect(connection).toMatchObject({
      phase: "online",
      statusDetail: "",
      retryAt: null,
      everOnline: true,
      closedBy: null,
    });
  });

  it("records what closed the session: the server's code and message, or the local reason", () => {
    const a = make();
    a.s.emit("closed", {
      reason: "replaced: x",
      error: { t: "error", code: "replaced", message: "another tab took over", fatal: true },
    });
    expect(a.connection.closedBy).toEqual({ code: "replaced", message: "another tab took over" });
    const b = make();
    b.s.emit("closed", { reason: "stopped", error: null });
    expect(b.connection.closedBy).toEqual({ code: null, message: "stopped" });
  });
});

describe("connection store, with real timers", () => {
  it("marks the first welcome for the timing tests, once", () => {
    performance.clearMarks("sealroom:welcome");
    const { s } = make();
    s.welcome([me()]);
    s.welcome([me()], true);
    expect(performance.getEntriesByName("sealroom:welcome")).toHaveLength(1);
  });
});

describe("members store", () => {
  it("lists self first, then by arrival, with the agent and safety code", () => {
    const { s, members } = make();
    s.welcome([carol(), me(), bob({ agent: undefined })]);
    expect(members.members.map((m) => m.name)).toEqual(["alice", "bob", "carol"]);
    expect(members.members[1]).toEqual({
      id: BOB,
      name: "bob",
      agent: "unknown",
      sigKey: "sig-bob",
      safety: "code-bob",
      since: 100,
      self: false,
      verified: true,
      notAdmitted: null,
      away: false,
    });
    expect(members.others.map((m) => m.id)).toEqual([BOB, CAROL]);
  });

  it("keeps the list in step with joined and left", () => {
    const { s, members } = make();
    s.welcome([me()]);
    s.join(bob());
    s.join(carol());
    expect(members.members.map((m) => m.name)).toEqual(["alice", "bob", "carol"]);
    s.leave(BOB);
    expect(members.members.map((m) => m.name)).toEqual(["alice", "carol"]);
  });

  it("names self 'you', keeps names of members who left, and shortens unknown ids", () => {
    const { s, members } = make();
    s.welcome([me(), bob()]);
    s.leave(BOB);
    expect(members.nameOf(SELF)).toBe("you");
    expect(members.nameOf(BOB)).toBe("bob");
    expect(members.nameOf(CAROL)).toBe(`unknown member ${CAROL.slice(0, 8)}`);
  });

  it("toggles the selection and drops from it whoever left", () => {
    const { s, members } = make();
    s.welcome([me(), bob(), carol()]);
    members.toggleSelected(BOB);
    members.toggleSelected(CAROL);
    members.toggleSelected(CAROL);
    members.toggleSelected(CAROL);
    expect([...members.selected]).toEqual([BOB, CAROL]);
    s.leave(CAROL, "timeout");
    expect([...members.selected]).toEqual([BOB]);
    members.clearSelection();
    expect(members.selected.size).toBe(0);
  });
});

describe("chat store", () => {
  it("shows a send at once with the mid sendText returned, then its ack", () => {
    const { s, chat } = make();
    s.welcome([me(), bob()]);
    chat.send("hello");
    expect(s.sends).toEqual([{ text: "hello", to: undefined, mid: "mid-1" }]);
    expect(chat.messages).toHaveLength(1);
    expect(chat.messages[0]).toMatchObject({
      mid: "mid-1",
      from: SELF,
      fromName: "alice",
      mine: true,
      to: null,
      text: "hello",
      status: "pending",
    });
    s.emit("ack", { mid: "mid-1", delivered: 1 });
    expect(chat.messages[0]).toMatchObject({ status: "sent", delivered: 1, failure: null });
  });

  it("sends to the selected members only", () => {
    const { s, chat, members } = make();
    s.welcome([me(), bob(), carol()]);
    members.toggleSelected(CAROL);
    chat.send("psst");
    expect(s.sends[0].to).toEqual([CAROL]);
    expect(chat.messages[0].to).toEqual([CAROL]);
  });

  it("marks a send failed when sendText throws or the session gives up on it", () => {
    const { s, chat } = make();
    s.welcome([me(), bob()]);
    s.failWith = "message longer than 4000 characters";
    chat.send("too long");
    expect(chat.messages[0]).toMatchObject({
      mid: null,
      status: "failed",
      failure: "message longer than 4000 characters",
    });
    chat.send("lost");
    s.emit("sendFailed", { mid: "mid-1", code: "unknown_recipient", message: "the recipients have left" });
    expect(chat.messages[1]).toMatchObject({ status: "failed", failure: "the recipients have left" });
  });

  it("shows a received message with its sender's name, and a broken one without text", () => {
    const { s, chat } = make();
    s.welcome([me(), bob()]);
    s.emit("message", {
      ok: true,
      from: BOB,
      name: "bob",
      mid: "m1",
      to: [SELF],
      direct: true,
      at: 5,
      text: "hi",
      ts: 4,
    });
    s.emit("message", {
      ok: false,
      from: CAROL,
      name: null,
      mid: "m2",
      to: [SELF, BOB],
      direct: false,
      at: 7,
      reason: "signature does not verify",
    });
    expect(chat.messages).toEqual([
      {
        key: `${BOB}/m1`,
        mid: "m1",
        from: BOB,
        fromName: "bob",
        mine: false,
        to: [SELF],
        text: "hi",
        problem: null,
        ts: 4,
        status: "received",
        delivered: null,
        failure: null,
      },
      {
        key: `${CAROL}/m2`,
        mid: "m2",
        from: CAROL,
        fromName: `unknown member ${CAROL.slice(0, 8)}`,
        mine: false,
        to: null,
        text: null,
        problem: "signature does not verify",
        ts: 7,
        status: "received",
        delivered: null,
        failure: null,
      },
    ]);
  });

  it("keeps the last 500 messages", () => {
    const { s, chat } = make();
    s.welcome([me(), bob()]);
    for (let i = 0; i < 520; i++) chat.send(`n${i}`);
    expect(chat.messages).toHaveLength(500);
    expect(chat.messages[0].text).toBe("n20");
    expect(chat.isAbout("mid-520")).toBe(true);
    expect(chat.isAbout("mid-1")).toBe(false);
    expect(chat.isAbout(undefined)).toBe(false);
  });
});

describe("durable: away members, delivered N of M, history gap", () => {
  it("an away member stays listed, marked away, and comes back", () => {
    const { s, members } = make();
    s.welcome([me(), bob(), carol()]);
    const e = s.members.get(BOB)!;
    s.members.set(BOB, { ...e, member: { ...e.member, presence: "away" } });
    s.emit("presence", { id: BOB, state: "away", entry: s.members.get(BOB)! });
    expect(members.members.find((m) => m.id === BOB)?.away).toBe(true);
    s.members.set(BOB, e);
    s.emit("presence", { id: BOB, state: "online", entry: e });
    expect(members.members.find((m) => m.id === BOB)?.away).toBe(false);
  });

  it("a sent message shows delivered to n of m as receipts come; a history gap is a marker; a repeat is shown once", () => {
    const { s, chat } = make();
    s.welcome([me(), bob(), carol()]);
    chat.send("hello");
    const mid = s.sends[0].mid;
    s.emit("ack", { mid, delivered: 2, seq: 7 });
    s.emit("delivered", { mid, seq: 7, delivered: 1, of: 2 });
    expect(chat.messages[0].opened).toEqual({ delivered: 1, of: 2 });
    s.emit("delivered", { mid, seq: 7, delivered: 2, of: 2 });
    expect(chat.messages[0].opened).toEqual({ delivered: 2, of: 2 });
    s.emit("historyGap", { from: 3, to: 5 });
    expect(chat.messages.at(-1)?.status).toBe("gap");
    const m = {
      from: BOB,
      name: "bob",
      mid: "x1",
      to: [SELF],
      at: 1,
      direct: false,
      ok: true as const,
      text: "hi",
      ts: 1,
      seq: 9,
    };
    s.emit("message", m);
    s.emit("message", m);
    expect(chat.messages.filter((x) => x.mid === "x1")).toHaveLength(1);
  });
});

describe("notices store", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const texts = (n: NoticesStore) => n.toasts.map((t) => `${t.tone}: ${t.text}`);

  it("tells who joined (and warns about keys that do not verify), but not a replacement", () => {
    const { s, notices } = make();
    s.welcome([me()]);
    s.join(bob());
    s.join(bob(), true);
    s.join(carol({ verified: false }));
    expect(texts(notices)).toEqual([
      "info: bob joined",
      "warn: carol joined",
      "bad: carol's keys do not verify: nothing will be sent to them.",
    ]);
  });

  it("tells who left and how, naming by the last name seen", () => {
    const { s, notices } = make();
    s.welcome([me(), bob(), carol()]);
    s.leave(BOB);
    s.leave(CAROL, "timeout");
    s.emit("left", { id: CAROL, reason: "error", entry: null });
    expect(texts(notices)).toEqual([
      "info: bob left",
      "warn: carol timed out",
      "warn: carol was disconnected after an error",
    ]);
  });

  it("shows server errors, except fatal ones and those about a message shown in the chat", () => {
    const { s, notices, chat } = make();
    s.welcome([me(), bob()]);
    chat.send("x");
    s.emit("error", { t: "error", code: "rate_limited", message: "slow down", fatal: false });
    s.emit("error", { t: "error", code: "bad_video", message: "", ref: "play", fatal: false });
    s.emit("error", { t: "error", code: "too_large", message: "too big", ref: "mid-1", fatal: false });
    s.emit("error", { t: "error", code: "replaced", message: "another tab", fatal: true });
    expect(texts(notices)).toEqual(["bad: slow down", "bad: bad_video"]);
  });

  it("says so on a reconnect, not on the first welcome", () => {
    const { s, notices } = make();
    s.welcome([me()]);
    expect(notices.toasts).toHaveLength(0);
    s.welcome([me()], true);
    expect(texts(notices)).toEqual(["info: Reconnected."]);
  });

  it("keeps at most five toasts and dismisses them after a while (longer unless info)", () => {
    const { notices } = make();
    notices.toast("a");
    notices.toast("b", "bad");
    expect(notices.toasts).toHaveLength(2);
    vi.advanceTimersByTime(TOAST_MS);
    expect(notices.toasts.map((t) => t.text)).toEqual(["b"]);
    vi.advanceTimersByTime(TOAST_MS);
    expect(notices.toasts).toHaveLength(0);
    for (let i = 0; i < 7; i++) notices.toast(`t${i}`);
    expect(notices.toasts.map((t) => t.text)).toEqual(["t2", "t3", "t4", "t5", "t6"]);
    notices.dismissToast(notices.toasts[0].id);
    expect(notices.toasts).toHaveLength(4);
  });

  it("keeps key warnings until dismissed, the last ten", () => {
    const { s, notices } = make();
    for (let i = 0; i < 12; i++) s.emit("keyChanged", { room: "r", name: `n${i}`, oldId: "old", newId: "new" });
    expect(notices.keyWarnings).toHaveLength(10);
    expect(notices.keyWarnings[0]).toMatchObject({ name: "n2", oldId: "old", newId: "new" });
    vi.advanceTimersByTime(TOAST_MS * 10);
    expect(notices.keyWarnings).toHaveLength(10);
    notices.dismissKeyWarning(notices.keyWarnings[0].id);
    expect(notices.keyWarnings.map((w) => w.name)[0]).toBe("n3");
  });
});

describe("watching store", () => {
  const video = (id: string, title: string) => ({
    id,
    title,
    durationMs: 1_000,
    width: 2,
    height: 2,
    fps: 30,
    bytes: 10,
  });
  const stream = (sid: number, p: Partial<SessionEvents["stream"]> = {}): SessionEvents["stream"] => ({
    sid,
    video: "a.mp4",
    scope: "room",
    by: BOB,
    width: 2,
    height: 2,
    fps: 30,
    durationMs: 1_000,
    posMs: 0,
    state: "playing",
    ...p,
  });

  it("asks for the library on the first welcome (the connection is online by then), once loaded never again", () => {
    const { s, watching } = make();
    s.welcome([me()]);
    expect(s.calls).toEqual(["videos"]);
    expect(watching.videosLoading).toBe(true);
    s.emit("videos", [video("a.mp4", "A")]);
    expect(watching).toMatchObject({ videos: [video("a.mp4", "A")], videosLoading: false });
    s.welcome([me()], true);
    expect(s.calls).toEqual(["videos"]);
  });

  it("does not ask while offline; a refused request or an error about it ends the loading", () => {
    const { s, watching, notices } = make();
    watching.loadVideos();
    expect(s.calls).toEqual([]);
    s.emit("state", "online");
    s.failWith = "not connected (reconnecting)";
    watching.loadVideos();
    expect(watching.videosLoading).toBe(false);
    expect(notices.toasts.map((t) => t.text)).toEqual(["Could not ask for the library: not connected (reconnecting)"]);
    watching.loadVideos();
    expect(watching.videosLoading).toBe(true);
    s.emit("error", { t: "error", code: "internal", message: "catalogue unreadable", ref: "videos", fatal: false });
    expect(watching.videosLoading).toBe(false);
  });

  it("follows a stream: title from the library, who paused, resumed or moved it, a new epoch each time", () => {
    const { s, watching } = make();
    s.welcome([me(), bob()]);
    s.emit("videos", [video("a.mp4", "Big Buck")]);
    s.emit("stream", stream(4));
    expect(watching.streams).toEqual([
      { ...stream(4), title: "Big Buck", lastBy: BOB, lastAction: "started", epoch: 0 },
    ]);
    s.emit("streamState", { sid: 4, state: "paused", posMs: 500, by: SELF });
    expect(watching.streams[0]).toMatchObject({
      state: "paused",
      posMs: 500,
      lastBy: SELF,
      lastAction: "paused",
      epoch: 1,
    });
    s.emit("streamState", { sid: 4, state: "paused", posMs: 800, by: BOB });
    expect(watching.streams[0]).toMatchObject({ posMs: 800, lastAction: "seeked", epoch: 2 });
    s.emit("streamState", { sid: 4, state: "playing", posMs: 800, by: BOB });
    expect(watching.streams[0]).toMatchObject({ lastAction: "resumed", epoch: 3 });
    s.emit("streamState", { sid: 99, state: "paused", posMs: 0, by: BOB });
    expect(watching.streams).toHaveLength(1);
    s.emit("stream", stream(4, { video: "b.mp4" }));
    expect(watching.streams).toHaveLength(1);
    expect(watching.streams[0]).toMatchObject({ title: "b.mp4", epoch: 0, lastAction: "started" });
  });

  it("moves an ended stream to the last three ended, with words for why, and forgets its stats and players", () => {
    const { s, watching } = make();
    s.welcome([me()]);
    const got: number[] = [];
    for (const sid of [1, 2, 3, 4]) {
      s.emit("stream", stream(sid));
      watching.onFrames(sid, (f) => got.push(f.frame));
      s.emit("streamStats", { sid, sent: 10, dropped: 1 });
    }
    expect(watching.stats[2]).toEqual({ sent: 10, dropped: 1 });
    s.emit("streamEnd", { sid: 1, reason: "finished" });
    s.emit("streamEnd", { sid: 2, reason: "disconnected" });
    s.emit("streamEnd", { sid: 3, reason: "replaced" });
    s.emit("streamEnd", { sid: 4, reason: "error" });
    s.emit("streamEnd", { sid: 4, reason: "error" });
    expect(watching.streams).toEqual([]);
    expect(watching.stats[2]).toBeUndefined();
    expect(watching.ended.map((e) => `${e.sid} ${e.reason}`)).toEqual([
      "2 interrupted: the connection dropped",
      "3 replaced by another video",
      "4 stopped by a server error",
    ]);
    s.emit("frame", { sid: 2, frame: 9, ptsMs: 0, jpeg: new Uint8Array(1) });
    expect(got).toEqual([]);
    s.emit("stream", stream(3));
    expect(watching.ended.map((e) => e.sid)).toEqual([2, 4]);
    watching.dismissEnded(2);
    expect(watching.ended.map((e) => e.sid)).toEqual([4]);
  });

  it("hands frames to the players of their stream only, until they unsubscribe", () => {
    const { s, watching } = make();
    s.emit("stream", stream(1));
    s.emit("stream", stream(2));
    const one: number[] = [];
    const two: number[] = [];
    const off = watching.onFrames(1, (f) => one.push(f.frame));
    watching.onFrames(2, (f) => two.push(f.frame));
    s.emit("frame", { sid: 1, frame: 1, ptsMs: 0, jpeg: new Uint8Array(1) });
    s.emit("frame", { sid: 2, frame: 7, ptsMs: 0, jpeg: new Uint8Array(1) });
    off();
    s.emit("frame", { sid: 1, frame: 2, ptsMs: 33, jpeg: new Uint8Array(1) });
    expect(one).toEqual([1]);
    expect(two).toEqual([7]);
  });

  it("plays and controls through the session, and shows why when it cannot", () => {
    const { s, watching, notices } = make();
    watching.play("a.mp4", "room");
    watching.control(3, "seek", 1_500);
    s.failWith = "not connected (reconnecting)";
    watching.control(3, "pause");
    expect(s.calls).toEqual(["play a.mp4 room 0", "control 3 seek 1500"]);
    expect(notices.toasts.map((t) => t.text)).toEqual(["not connected (reconnecting)"]);
  });

  it("drops every stream when the session closes", () => {
    const { s, watching } = make();
    s.emit("stream", stream(1));
    s.emit("closed", { reason: "stopped", error: null });
    expect(watching.streams).toEqual([]);
  });
});

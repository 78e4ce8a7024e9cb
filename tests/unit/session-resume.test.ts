// protocol/resume.ts: the cursor only moves forward, repeats are told apart by
// seq, a stored cursor is what the next hello carries, receipts are batched and
// dropped (not queued without bound) while offline; the terminal client's
// cursor file is 0600 and survives a restart.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cursorsPathFor, FileCursorStore } from "../../client/cursorFile";
import { MemoryCursorStore, ResumeState } from "../../protocol/resume";

const LOG1 = "AAAAAAAAAAAAAAAAAAAAAA";
const LOG2 = "BBBBBBBBBBBBBBBBBBBBBB";

describe("ResumeState", () => {
  it("carries no resume before a cursor, then the stored one; moves only forward; has() marks repeats", async () => {
    const store = new MemoryCursorStore();
    const a = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    await a.load();
    expect(a.hello()).toBeUndefined();
    a.advance(5, true);
    a.advance(3, true);
    expect(a.seq).toBe(5);
    expect(a.has(5)).toBe(true);
    expect(a.has(6)).toBe(false);
    expect(store.get("r")).toEqual({ seq: 5 });
    const b = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    await b.load();
    expect(b.hello()).toEqual({ room: "r", seq: 5 });
  });

  it("resumed sets the cursor even backwards (a core whose log was replaced refused the old one)", () => {
    const store = new MemoryCursorStore();
    const r = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    r.advance(9, true);
    r.resumed(0);
    expect(r.has(1)).toBe(false);
    expect(store.get("r")).toEqual({ seq: 0 });
  });

  it("keeps the log id with the cursor and sends it as resumeLog; a cursor kept before log ids sends none", async () => {
    const store = new MemoryCursorStore();
    store.set("r", { seq: 4 });
    const r = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    await r.load();
    expect(r.hello()).toEqual({ room: "r", seq: 4 });
    expect(r.helloLog()).toBeUndefined();
    // the first welcome with a log id: taken as this cursor's log (the core resumed by seq)
    expect(r.welcomed(LOG1)).toBe(false);
    expect(r.has(4)).toBe(true);
    expect(store.get("r")).toEqual({ seq: 4, log: LOG1 });
    r.resumed(6, LOG1);
    expect(store.get("r")).toEqual({ seq: 6, log: LOG1 });
    const next = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    await next.load();
    expect(next.hello()).toEqual({ room: "r", seq: 6 });
    expect(next.helloLog()).toBe(LOG1);
    expect(next.logId).toBe(LOG1);
    // the same log again: nothing changes; a core without log ids: nothing changes
    expect(next.welcomed(LOG1)).toBe(false);
    expect(next.welcomed(undefined)).toBe(false);
    expect(next.seq).toBe(6);
  });

  it("a welcome naming another log: the cursor starts over at 0 before the replay, with the new log id", async () => {
    const store = new MemoryCursorStore();
    store.set("r", { seq: 9, log: LOG1 });
    const r = new ResumeState(
      store,
      "r",
      () => true,
      () => {},
    );
    await r.load();
    expect(r.welcomed(LOG2)).toBe(true);
    expect(r.seq).toBe(0);
    expect(r.has(1)).toBe(false); // seq 1 of the new log is no repeat of the old log's 1
    expect(store.get("r")).toEqual({ seq: 0, log: LOG2 });
    r.advance(1, true);
    r.advance(2, true);
    r.resumed(2, LOG2);
    expect(store.get("r")).toEqual({ seq: 2, log: LOG2 });
    expect(r.helloLog()).toBe(LOG2);
    // a first join (no cursor yet): nothing to start over, the id is kept once a cursor comes
    const fresh = new ResumeState(
      new MemoryCursorStore(),
      "r",
      () => true,
      () => {},
    );
    await fresh.load();
    expect(fresh.welcomed(LOG1)).toBe(false);
    expect(fresh.helloLog()).toBeUndefined();
    fresh.resumed(3, LOG1);
    expect(fresh.helloLog()).toBe(LOG1);
  });

  it("a bad or failing store is ignored with a warning, never thrown", async () => {
    const warnings: string[] = [];
    const bad = new ResumeState(
      {
        get: () => Promise.reject(new Error("quota")),
        set: () => {
          throw new Error("quota");
        },
      },
      "r",
      () => true,
      (m) => warnings.push(m),
    );
    await bad.load();
    expect(bad.hello()).toBeUndefined();
    bad.advance(1, true);
    expect(warnings.join()).toMatch(/quota/);
    const weird = new ResumeState(
      { get: () => ({ seq: -3 }), set: () => {} },
      "r",
      () => true,
      () => {},
    );
    await weird.load();
    expect(weird.hello()).toBeUndefined();
  });

  it("receipts go in batches of at most 256; offline they are dropped", () => {
    const sent: number[][] = [];
    let online = true;
    const r = new ResumeState(
      new MemoryCursorStore(),
      "r",
      (s) => (online ? (sent.push(s), true) : false),
      () => {},
    );
    for (let i = 1; i <= 600; i++) r.opened(i);
    r.flushReceipts();
    expect(sent.map((b) => b.length)).toEqual([256, 256, 88]);
    online = false;
    r.opened(601);
    r.flushReceipts();
    online = true;
    r.flushReceipts();
    expect(sent.flat()).not.toContain(601);
  });
});

describe("FileCursorStore", () => {
  it("keeps cursors per room in a 0600 file beside the identity, across restarts; ignores junk", () => {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-cursors-"));
    const file = cursorsPathFor(join(dir, "identity-alice.json"));
    expect(file).toBe(join(dir, "cursors-alice.json"));
    new FileCursorStore(file).set("room1", { seq: 42 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(new FileCursorStore(file).get("room1")).toEqual({ seq: 42 });
    expect(new FileCursorStore(file).get("other")).toBeNull();
    const withLog = new FileCursorStore(file);
    withLog.set("room2", { seq: 5, log: LOG1 });
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ room1: { seq: 42 }, room2: { seq: 5, log: LOG1 } });
    expect(new FileCursorStore(file).get("room2")).toEqual({ seq: 5, log: LOG1 });
    // a bare number is a cursor kept before log ids; junk and a malformed log id are dropped
    writeFileSync(
      file,
      JSON.stringify({
        a: -1,
        b: "x",
        c: 7,
        d: { seq: 1, log: "no spaces!" },
        e: { seq: 2, log: LOG2 },
        f: { log: LOG2 },
      }),
    );
    const s = new FileCursorStore(file);
    expect(["a", "b", "c", "d", "e", "f"].map((r) => s.get(r))).toEqual([
      null,
      null,
      { seq: 7 },
      null,
      { seq: 2, log: LOG2 },
      null,
    ]);
    writeFileSync(file, "not json");
    const warnings: string[] = [];
    expect(new FileCursorStore(file, (m) => warnings.push(m)).get("c")).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(readFileSync(file, "utf8")).toBe("not json");
  });
});

// The web app's resume cursors (web/src/lib/cursors.ts): per identity and room
// in localStorage, the seq with the id of the log it counts in (docs/protocol.md
// section 2c); a cursor kept before log ids (a bare number) still reads, junk
// does not, and a storage that throws costs only the resume after a reload.
// localStorage is a Map-backed stand-in: the node test environment has none.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ResumeState } from "../../protocol/resume";
import { LocalCursorStore } from "../../web/src/lib/cursors";

const LOG1 = "AAAAAAAAAAAAAAAAAAAAAA";
const LOG2 = "BBBBBBBBBBBBBBBBBBBBBB";

class MapStorage {
  readonly map = new Map<string, string>();
  broken = false;
  getItem(k: string): string | null {
    if (this.broken) throw new Error("SecurityError");
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    if (this.broken) throw new Error("QuotaExceededError");
    this.map.set(k, v);
  }
}

let storage: MapStorage;
beforeEach(() => {
  storage = new MapStorage();
  vi.stubGlobal("localStorage", storage);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("LocalCursorStore", () => {
  it("keeps seq and log id per identity and room, as JSON under sealroom.cursor.<id>.<room>", () => {
    const a = new LocalCursorStore("alice");
    a.set("r1", { seq: 7, log: LOG1 });
    a.set("r2", { seq: 3 });
    expect(storage.map.get("sealroom.cursor.alice.r1")).toBe(JSON.stringify({ seq: 7, log: LOG1 }));
    expect(new LocalCursorStore("alice").get("r1")).toEqual({ seq: 7, log: LOG1 });
    expect(new LocalCursorStore("alice").get("r2")).toEqual({ seq: 3 });
    expect(new LocalCursorStore("bob").get("r1")).toBeNull();
    expect(a.get("nowhere")).toBeNull();
  });

  it("reads a cursor kept before log ids (a bare number); refuses junk and a malformed log id", () => {
    const s = new LocalCursorStore("alice");
    storage.map.set("sealroom.cursor.alice.old", "12");
    storage.map.set("sealroom.cursor.alice.neg", "-1");
    storage.map.set("sealroom.cursor.alice.text", "twelve");
    storage.map.set("sealroom.cursor.alice.badlog", JSON.stringify({ seq: 2, log: "not a log id!" }));
    storage.map.set("sealroom.cursor.alice.frac", JSON.stringify({ seq: 2.5, log: LOG1 }));
    expect(s.get("old")).toEqual({ seq: 12 });
    expect([s.get("neg"), s.get("text"), s.get("badlog"), s.get("frac")]).toEqual([null, null, null, null]);
  });

  it("a storage that throws: no cursor, nothing thrown", () => {
    const s = new LocalCursorStore("alice");
    s.set("r", { seq: 1, log: LOG1 });
    storage.broken = true;
    expect(s.get("r")).toBeNull();
    expect(() => s.set("r", { seq: 2, log: LOG1 })).not.toThrow();
  });

  it("behind ResumeState: a reload resumes with the log id; another log in the welcome starts the cursor over", async () => {
    const first = new ResumeState(
      new LocalCursorStore("alice"),
      "r",
      () => true,
      () => {},
    );
    await first.load();
    expect(first.welcomed(LOG1)).toBe(false);
    first.resumed(0, LOG1);
    first.advance(4, true);
    const reload = new ResumeState(
      new LocalCursorStore("alice"),
      "r",
      () => true,
      () => {},
    );
    await reload.load();
    expect(reload.hello()).toEqual({ room: "r", seq: 4 });
    expect(reload.helloLog()).toBe(LOG1);
    expect(reload.welcomed(LOG2)).toBe(true);
    expect(reload.has(1)).toBe(false);
    expect(new LocalCursorStore("alice").get("r")).toEqual({ seq: 0, log: LOG2 });
  });
});

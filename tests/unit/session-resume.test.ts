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
    writeFileSync(file, JSON.stringify({ a: -1, b: "x", c: 7 }));
    const s = new FileCursorStore(file);
    expect([s.get("a"), s.get("b"), s.get("c")]).toEqual([null, null, { seq: 7 }]);
    writeFileSync(file, "not json");
    const warnings: string[] = [];
    expect(new FileCursorStore(file, (m) => warnings.push(m)).get("c")).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(readFileSync(file, "utf8")).toBe("not json");
  });
});

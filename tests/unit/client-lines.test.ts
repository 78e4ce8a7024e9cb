// Unit tests of client/lineInput.ts: lines handled one at a time and in
// order after the session is ready, bounded read-ahead, and how it ends.

import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { handleLines, type LineSource } from "../../client/lineInput";

class FakeLines extends EventEmitter implements LineSource {
  paused = 0;
  resumed = 0;
  pause() {
    this.paused++;
  }
  resume() {
    this.resumed++;
  }
  line(l: string) {
    this.emit("line", l);
  }
  end() {
    this.emit("close");
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("handleLines", () => {
  it("handles nothing before ready, then every line in order, one at a time, and ends at end of input", async () => {
    const src = new FakeLines();
    const ready = deferred();
    const seen: string[] = [];
    let busy = 0;
    const done = handleLines(src, {
      ready: ready.promise,
      stopped: () => false,
      handle: async (l) => {
        expect(busy++).toBe(0);
        await tick();
        seen.push(l);
        busy--;
        return undefined;
      },
    });
    src.line("one");
    src.line("two");
    await tick();
    expect(seen).toEqual([]);
    ready.resolve();
    src.line("three");
    src.end();
    expect(await done).toBe("end");
    expect(seen).toEqual(["one", "two", "three"]);
  });

  it("stops at a line that asks to quit, leaving the rest unhandled", async () => {
    const src = new FakeLines();
    const seen: string[] = [];
    const done = handleLines(src, {
      ready: Promise.resolve(),
      stopped: () => false,
      handle: async (l) => (seen.push(l), l === "/quit" ? "quit" : undefined),
    });
    for (const l of ["a", "/quit", "b"]) src.line(l);
    expect(await done).toBe("quit");
    expect(seen).toEqual(["a", "/quit"]);
  });

  it("reports stopped when the run ended for another reason", async () => {
    const src = new FakeLines();
    let stopped = false;
    const seen: string[] = [];
    const done = handleLines(src, {
      ready: Promise.resolve(),
      stopped: () => stopped,
      handle: async (l) => void seen.push(l),
    });
    src.line("a");
    await tick();
    stopped = true;
    src.line("b");
    src.end();
    expect(await done).toBe("stopped");
    expect(seen).toEqual(["a"]);
  });

  it("pauses input when too many lines wait, and resumes once half are handled", async () => {
    const src = new FakeLines();
    const ready = deferred();
    const seen: string[] = [];
    const done = handleLines(src, {
      ready: ready.promise,
      stopped: () => false,
      maxQueued: 4,
      handle: async (l) => void seen.push(l),
    });
    for (let i = 0; i < 4; i++) src.line(String(i));
    expect(src.paused).toBe(1);
    expect(src.resumed).toBe(0);
    ready.resolve();
    src.end();
    expect(await done).toBe("end");
    expect(seen).toEqual(["0", "1", "2", "3"]);
    expect(src.resumed).toBeGreaterThan(0);
  });
});

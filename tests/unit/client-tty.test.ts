// Unit tests of the terminal watch mode: half-block bytes, fit and
// downscale, the watch view behind a fake terminal and clock (newest frame
// wins, resize, alternate screen), and /watch, /unwatch, /play --tty in the app.

import jpeg from "jpeg-js";
import { describe, expect, it } from "vitest";
import { ClientApp, NEEDS_TERMINAL } from "../../client/app";
import { parseCommand } from "../../client/commands";
import type { ChatScreen, EventJson, Output } from "../../client/output";
import { Bytes, encodeCells, toCells } from "../../client/tty/halfBlock";
import { decodeJpeg } from "../../client/tty/jpeg";
import { downscale, fit } from "../../client/tty/scale";
import { ENTER, LEAVE, LEAVE_RESIZED, WatchView, type Clock, type Image, type Out } from "../../client/tty/watchView";
import { entry, FakeSession, streamInfo } from "../helpers/fakeSession";

const rgb = (...px: number[][]) => Uint8Array.from(px.flat());

describe("half-block cells", () => {
  // 2x2: red green / blue white -> two cells, upper pixel as foreground.
  const img = rgb([255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]);

  it("encodes a 2x2 image as exactly these bytes", () => {
    const cells = toCells(img, 2, 2);
    expect([...cells]).toEqual([0xff0000, 0x0000ff, 0x00ff00, 0xffffff]);
    const b = new Bytes(4);
    expect(encodeCells(b, cells, null, 2, 1, 0, 0)).toBe(2);
    expect(b.take().toString("utf8")).toBe(
      "\x1b[1;1H\x1b[38;2;255;0;0;48;2;0;0;255m▀\x1b[38;2;0;255;0;48;2;255;255;255m▀\x1b[0m",
    );
  });

  it("places the picture at its offset, writes a space for a one-colour cell, and sets colours only when they change", () => {
    const same = rgb([9, 9, 9], [9, 9, 9], [9, 9, 9], [9, 9, 9]);
    const b = new Bytes();
    encodeCells(b, toCells(same, 2, 2), null, 2, 1, 3, 5);
    expect(b.take().toString("utf8")).toBe("\x1b[6;4H\x1b[48;2;9;9;9m  \x1b[0m");
  });

  it("writes only the changed cells, each run after a cursor move, and nothing when nothing changed", () => {
    const before = toCells(rgb([1, 1, 1], [2, 2, 2], [3, 3, 3], [1, 1, 1], [2, 2, 2], [3, 3, 3]), 3, 2);
    const after = toCells(rgb([1, 1, 1], [2, 2, 2], [7, 7, 7], [1, 1, 1], [2, 2, 2], [7, 7, 7]), 3, 2);
    const b = new Bytes();
    expect(encodeCells(b, after, before, 3, 1, 0, 0)).toBe(1);
    expect(b.take().toString("utf8")).toBe("\x1b[1;3H\x1b[48;2;7;7;7m \x1b[0m");
    b.reset();
    expect(encodeCells(b, after, after, 3, 1, 0, 0)).toBe(0);
    expect(b.length).toBe(0);
  });
});

describe("fit and downscale", () => {
  it("letterboxes 16:9 in 80x22 cells (two pixels a row) and pillarboxes a tall picture", () => {
    expect(fit(640, 360, 80, 22)).toEqual({ cols: 78, rows: 22, col0: 1, row0: 0, width: 78, height: 44 });
    expect(fit(640, 360, 200, 58)).toEqual({ cols: 200, rows: 56, col0: 0, row0: 1, width: 200, height: 112 });
    const tall = fit(100, 400, 80, 20)!;
    expect(tall.rows).toBe(20);
    expect(tall.cols).toBe(10);
    expect(tall.col0).toBe(35);
    expect(fit(640, 360, 0, 10)).toBeNull();
  });

  it("averages each source box and repeats pixels when enlarging", () => {
    // 4x2 RGBA: left half black/white (mean 127.5 -> 128), right half all 200.
    const src = Uint8Array.from([
      0, 0, 0, 255, 255, 255, 255, 255, 200, 200, 200, 255, 200, 200, 200, 255, 255, 255, 255, 255, 0, 0, 0, 255, 200,
      200, 200, 255, 200, 200, 200, 255,
    ]);
    expect([...downscale(src, 4, 2, 2, 1)]).toEqual([128, 128, 128, 200, 200, 200]);
    const one = Uint8Array.from([10, 20, 30, 255]);
    expect([...downscale(one, 1, 1, 2, 2)]).toEqual([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
  });
});

/** A terminal whose writes finish only when the test says so (a slow terminal). */
class FakeOut implements Out {
  columns = 20;
  rows = 8;
  readonly writes: string[] = [];
  private pending: (() => void)[] = [];
  private resizeListeners = new Set<() => void>();
  autoFlush = true;
  write(data: Buffer, done: () => void): void {
    this.writes.push(data.toString("utf8"));
    if (this.autoFlush) done();
    else this.pending.push(done);
  }
  flush(): void {
    for (const d of this.pending.splice(0)) d();
  }
  onResize(l: () => void): () => void {
    this.resizeListeners.add(l);
    return () => this.resizeListeners.delete(l);
  }
  resize(cols: number, rows: number): void {
    this.columns = cols;
    this.rows = rows;
    for (const l of this.resizeListeners) l();
  }
  get listening(): number {
    return this.resizeListeners.size;
  }
  all(): string {
    return this.writes.join("");
  }
}

class FakeClock implements Clock {
  t = 0;
  private q: (() => void)[] = [];
  now(): number {
    return this.t;
  }
  soon(fn: () => void): void {
    this.q.push(fn);
  }
  run(): void {
    while (this.q.length) this.q.shift()!();
  }
}

/** Frames are one byte naming a solid colour; the decoder records which ones it was asked for. */
function solidDecoder(w = 16, h = 9) {
  const decoded: number[] = [];
  const decode = (j: Uint8Array): Image | null => {
    decoded.push(j[0]);
    if (j[0] === 0) return null;
    const data = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) data.set([j[0], j[0], j[0], 255], i * 4);
    return { width: w, height: h, data };
  };
  return { decoded, decode };
}

/** Cells drawn above the status line (escapes stripped). */
const cellsDrawn = (s: string, statusRow: number) =>
  (
    s
      .split(`\x1b[${statusRow};1H`)[0]
      .replace(/\x1b\[[^a-zA-Z]*[a-zA-Z]/g, "")
      .match(/▀| /g) ?? []
  ).length;

describe("WatchView", () => {
  it("enters the alternate screen, draws the newest frame with the status and subtitle lines, and restores the screen", () => {
    const out = new FakeOut();
    const clock = new FakeClock();
    const { decode } = solidDecoder();
    out.columns = 40;
    const v = new WatchView(out, decode, clock);
    v.open();
    expect(out.writes[0]).toBe(ENTER);
    v.setStatus("playing \x1b[31mevil\u202e 0:01");
    v.setSubtitle("hello");
    v.offer(Uint8Array.of(50));
    clock.run();
    const frame = out.writes.at(-1)!;
    expect(frame).toContain("\x1b[48;2;50;50;50m");
    // 16:9 in 20 cols x 6 rows -> 11 px... picture 20x6 cells at most; rows under it are status (7) and subtitle (8).
    expect(frame).toContain("\x1b[7;1H\x1b[0;7mplaying \ufffd[31mevil\ufffd 0:01");
    expect(frame).toContain("\x1b[8;1H");
    expect(frame).toContain("hello");
    expect(v.stats).toMatchObject({ offered: 1, drawn: 1, skipped: 0 });
    v.close();
    expect(out.writes.at(-1)).toBe(LEAVE);
    expect(out.listening).toBe(0);
    v.offer(Uint8Array.of(60));
    clock.run();
    expect(out.writes.at(-1)).toBe(LEAVE);
    v.close();
    expect(out.writes.filter((w) => w === LEAVE)).toHaveLength(1);
  });

  it("skips frames while the terminal is still writing, never decoding them, and then draws the newest", () => {
    const out = new FakeOut();
    out.autoFlush = false;
    const clock = new FakeClock();
    const { decode, decoded } = solidDecoder();
    const v = new WatchView(out, decode, clock);
    v.open();
    v.offer(Uint8Array.of(10));
    clock.run();
    const afterFirst = out.writes.length;
    for (let i = 11; i <= 15; i++) {
      v.offer(Uint8Array.of(i));
      clock.run();
    }
    expect(out.writes.length).toBe(afterFirst); // the terminal has not taken the first yet
    out.flush();
    clock.run();
    expect(decoded).toEqual([10, 15]);
    expect(out.writes.at(-1)).toContain("\x1b[48;2;15;15;15m");
    expect(v.stats).toMatchObject({ offered: 6, drawn: 2, skipped: 4 });
  });

  it("redraws only what changed, and a resize redraws the whole picture at the new size", () => {
    const out = new FakeOut();
    const clock = new FakeClock();
    const { decode } = solidDecoder(32, 18);
    const v = new WatchView(out, decode, clock);
    v.open();
    v.offer(Uint8Array.of(40));
    clock.run();
    const first = cellsDrawn(out.writes.at(-1)!, 7);
    expect(first).toBe(20 * 6); // 16:9 fills 20 x 6 cells (12 px high would be 21 wide: clipped to 20)
    const writes = out.writes.length;
    v.offer(Uint8Array.of(40));
    clock.run();
    expect(out.writes.length).toBe(writes); // the same picture: nothing to write
    v.offer(Uint8Array.of(41));
    clock.run();
    expect(cellsDrawn(out.writes.at(-1)!, 7)).toBe(20 * 6);
    out.resize(40, 14);
    clock.run();
    const redraw = out.writes.at(-1)!;
    expect(redraw).toContain("\x1b[2J");
    expect(redraw).toContain("\x1b[48;2;41;41;41m"); // the last picture, though no new frame came
    expect(cellsDrawn(redraw, 13)).toBe(40 * 11);
    // 40 x 12 cells for the picture: 16:9 at 40 wide is 22.5 px -> 11 rows, centred.
    expect(redraw).toContain("\x1b[1;1H");
    expect(redraw).toContain("\x1b[11;1H");
    expect(redraw).not.toContain("\x1b[12;1H\x1b[48");
    expect(redraw).toContain("\x1b[13;1H"); // the status line moved to the new bottom
    v.close();
    expect(out.writes.at(-1)).toBe(LEAVE_RESIZED);
  });

  it("counts a frame that does not decode and keeps the last picture", () => {
    const out = new FakeOut();
    const clock = new FakeClock();
    const { decode } = solidDecoder();
    const v = new WatchView(out, decode, clock);
    v.open();
    v.offer(Uint8Array.of(0));
    clock.run();
    expect(v.stats.bad).toBe(1);
    expect(v.stats.drawn).toBe(0);
  });

  it("decodes real JPEGs with jpeg-js and rejects garbage", () => {
    const w = 8;
    const h = 8;
    const data = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) data.set([200, 30, 30, 255], i * 4);
    const img = decodeJpeg(jpeg.encode({ width: w, height: h, data }, 95).data)!;
    expect(img.width).toBe(8);
    expect(Math.abs(img.data[0] - 200)).toBeLessThan(8);
    expect(decodeJpeg(Uint8Array.of(1, 2, 3))).toBeNull();
  });

  it("refuses a frame that claims a huge size before allocating for it", () => {
    const small = Buffer.from(jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 128) }, 90).data);
    const sof = small.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    small.writeUInt16BE(20_000, sof + 5); // height
    small.writeUInt16BE(20_000, sof + 7); // width: 400 MP
    const t = performance.now();
    expect(decodeJpeg(small)).toBeNull();
    expect(performance.now() - t).toBeLessThan(1_000);
  });
});

class HeldChat implements ChatScreen {
  onKey: (() => void) | null = null;
  resumed = 0;
  heldCount = 0;
  suspend(onKey: () => void): void {
    this.onKey = onKey;
  }
  resume(): void {
    this.onKey = null;
    this.resumed++;
  }
}

class Lines implements Output {
  readonly events: { json: EventJson; human: string | null }[] = [];
  event(json: EventJson, human: string | null): void {
    this.events.push({ json, human });
  }
  status(): void {}
  close(): void {}
  last(): string | null {
    return this.events.at(-1)!.human;
  }
}

describe("/watch in the app", () => {
  function setup(withTty: boolean) {
    const s = new FakeSession("alice", "r1", "self0000id");
    s.add(entry("alice", "self0000id", { self: true }));
    const out = new Lines();
    const term = new FakeOut();
    term.columns = 80;
    term.rows = 24;
    const clock = new FakeClock();
    const { decode, decoded } = solidDecoder();
    const view = new WatchView(term, decode, clock);
    const chat = new HeldChat();
    const app = new ClientApp({ session: s, out, core: "c:1", ...(withTty ? { tty: { view, chat } } : {}) });
    return { s, out, term, clock, view, chat, app, decoded };
  }

  it("parses /watch, /unwatch and /play --tty", () => {
    expect(parseCommand("/watch")).toEqual({ kind: "watch" });
    expect(parseCommand("/unwatch")).toEqual({ kind: "unwatch" });
    expect(parseCommand("/play a.mp4 --tty --room")).toEqual({
      kind: "play",
      video: "a.mp4",
      scope: "room",
      tty: true,
    });
    expect(parseCommand("/play a.mp4")).toEqual({ kind: "play", video: "a.mp4", scope: "self" });
    expect(parseCommand("/watch now")).toEqual({ kind: "invalid", message: "/watch takes no arguments" });
  });

  it("without a terminal, /watch and /play --tty print one error line and play nothing", async () => {
    const { s, out, app } = setup(false);
    await app.line("/watch");
    expect(out.last()).toBe(`! ${NEEDS_TERMINAL}`);
    await app.line("/play sample.mp4 --tty");
    expect(out.last()).toBe(`! ${NEEDS_TERMINAL}`);
    expect(s.calls).toEqual([]);
  });

  it("draws the current stream's frames, and a key returns to chat with the stream still watched", async () => {
    const { s, out, term, clock, view, chat, app, decoded } = setup(true);
    await app.line("/watch");
    expect(out.last()).toBe("! no stream is playing (/play ID first)");
    s.streams.set(7, streamInfo({ sid: 7 }));
    s.emit("stream", streamInfo({ sid: 7 }));
    await app.line("/watch");
    expect(view.active).toBe(true);
    expect(chat.onKey).not.toBeNull();
    s.emit("frame", { sid: 7, frame: 1, ptsMs: 1000, jpeg: Uint8Array.of(77) });
    s.emit("frame", { sid: 8, frame: 1, ptsMs: 1000, jpeg: Uint8Array.of(88) });
    clock.run();
    expect(decoded).toEqual([77]);
    expect(term.all()).toContain("sample.mp4 0:01/2:05");
    expect(term.all()).toContain("any key: chat");
    chat.onKey!();
    expect(view.active).toBe(false);
    expect(term.writes.at(-1)).toBe(LEAVE);
    expect(chat.resumed).toBe(1);
    expect(out.last()).toBe("* back to chat; sample.mp4 goes on (/watch to see it again)");
    expect(s.calls.filter((c) => c.call === "control")).toEqual([]);
    await app.line("/unwatch");
    expect(out.last()).toBe("! not watching (/watch first)");
    await app.line("/watch");
    await app.line("/unwatch");
    expect(view.active).toBe(false);
    expect(chat.resumed).toBe(2);
  });

  it("/play --tty starts drawing when that stream arrives, and the stream's end gives the chat back", async () => {
    const { s, out, view, chat, app } = setup(true);
    await app.line("/play sample.mp4 --tty");
    expect(s.calls).toEqual([{ call: "play", video: "sample.mp4", scope: "self", fromMs: undefined }]);
    expect(view.active).toBe(false);
    s.streams.set(3, streamInfo({ sid: 3 }));
    s.emit("stream", streamInfo({ sid: 3 }));
    expect(view.active).toBe(true);
    s.emit("streamEnd", { sid: 3, reason: "finished" });
    expect(view.active).toBe(false);
    expect(chat.resumed).toBe(1);
    expect(out.last()).toBe("* back to chat (the stream ended)");
    app.close();
  });
});

// The terminal watch mode under a real pseudo-terminal: the real client in a
// private tmux server against the real core (ephemeral port, real ffmpeg,
// the sample video). /watch draws true-colour half-block cells with a live
// status line, follows a window resize, and q gives the chat back while the
// stream goes on. The watch screen is saved as text (docs/screenshots/ with
// SEALROOM_SCREENSHOTS=1).

import { existsSync, mkdirSync, mkdtempSync, promises as fs, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCore } from "../helpers/core";
import { BIN, ROOT, runSealroom } from "../helpers/proc";
import { NEEDS_TERMINAL } from "../../client/app";
import { TMUX, Tmux, until } from "../helpers/tmux";

const VIDEOS = path.join(ROOT, "videos");
const hasVideo = existsSync(path.join(VIDEOS, "sample.mp4"));
const SHOTS =
  process.env.SEALROOM_SCREENSHOTS === "1"
    ? path.join(ROOT, "docs", "screenshots")
    : path.join(os.tmpdir(), "sealroom-screenshots");

if (!TMUX) console.warn("client-tty: tmux not found (apt-get install -y tmux); the pseudo-terminal test is skipped");

const TRUE_COLOUR = /\x1b\[(?:[0-9;]*;)?(?:38|48);2;\d+;\d+;\d+/;

/** Screen rows (from a colour capture) that hold picture cells. */
function pictureRows(colour: string): number {
  return colour.split("\n").filter((l) => TRUE_COLOUR.test(l)).length;
}

/** The widest picture row, in cells (escapes stripped; tmux keeps coloured spaces). */
function pictureCols(colour: string): number {
  return Math.max(
    0,
    ...colour
      .split("\n")
      .filter((l) => TRUE_COLOUR.test(l))
      .map((l) => [...l.replace(/\x1b\[[0-9;]*m/g, "").trimEnd()].length),
  );
}

const statusLine = (plain: string) => plain.split("\n").find((l) => l.includes("any key: chat"));

describe.skipIf(!TMUX || !hasVideo)("client watch mode in a real terminal (tmux)", { timeout: 60_000 }, () => {
  let core: Awaited<ReturnType<typeof startCore>>;
  let home: string;
  const term = new Tmux();
  const term2 = new Tmux();
  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "sealroom-tty-"));
    core = await startCore({ videos: VIDEOS } as Parameters<typeof startCore>[0]);
  });
  afterAll(async () => {
    term.kill();
    term2.kill();
    await core?.stop();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("draws the stream as half-block true-colour cells, follows a resize, and q returns to chat with the stream still playing", async () => {
    const err = path.join(home, "stderr.log");
    const cmd = `exec '${process.execPath}' '${BIN}' client --name tv --room cinema --core 127.0.0.1:${core.port} --identity '${path.join(home, "id.json")}' 2>'${err}'`;
    term.start(cmd, 80, 24);
    const screen = () => term.capture();
    const failNote = async () =>
      `\nscreen:\n${screen()}\nstderr: ${existsSync(err) ? await fs.readFile(err, "utf8") : ""}`;
    try {
      await until(() => (screen().includes("nobody else is here yet") ? true : undefined), "the welcome");
      term.type("/play sample.mp4");
      await until(() => (screen().includes("* sample.mp4 playing at") ? true : undefined), "the stream");
      term.type("/watch");

      // The picture: most rows are cells with 24-bit colours, "▀" among them, and the status line under it.
      const first = await until(() => {
        const c = term.capture(true);
        return pictureRows(c) >= 20 && c.includes("▀") ? c : undefined;
      }, "the picture at 80x24");
      expect(pictureRows(first)).toBeLessThanOrEqual(22); // two rows kept: status and subtitle
      expect(pictureCols(first)).toBeGreaterThanOrEqual(76);
      expect(first).not.toContain("> /watch"); // the alternate screen: the chat is not under the picture
      const s1 = statusLine(screen());
      expect(s1).toMatch(/^playing sample\.mp4 0:0\d\/0:10 \d+ fps, \d+ dropped · drawn \d+/);

      // The status line moves with the stream: a later position.
      const pos = (s: string | undefined) => /^playing sample\.mp4 (0:0\d)\//.exec(s ?? "")?.[1];
      const s2 = await until(() => {
        const s = statusLine(screen());
        return pos(s) && pos(s) !== pos(s1) ? s : undefined;
      }, "the status line to change");
      expect(s2).toMatch(/ · drawn [1-9]\d* · any key: chat$/);
      // The screenshot: plain text, and with its colours (`cat` it in a true-colour terminal).
      mkdirSync(SHOTS, { recursive: true });
      writeFileSync(path.join(SHOTS, "terminal-watch.txt"), screen());
      writeFileSync(path.join(SHOTS, "terminal-watch.ans"), term.capture(true));

      // A bigger window: the picture is redrawn bigger.
      term.resize(200, 60);
      const big = await until(() => {
        const c = term.capture(true);
        return pictureRows(c) >= 50 ? c : undefined;
      }, "the picture at 200x60");
      expect(pictureRows(big)).toBeLessThanOrEqual(58);
      expect(pictureCols(big)).toBeGreaterThanOrEqual(190);
      expect(statusLine(term.capture())).toBeDefined();

      // Any key: back to chat, the stream goes on.
      term.keys(["q"]);
      const chat = await until(() => {
        const s = screen();
        return s.includes("* back to chat; sample.mp4 goes on") ? s : undefined;
      }, "the chat");
      expect(chat).toMatch(/\] >$/m); // the prompt (the chat screen was cleared: the window changed size meanwhile)
      expect(pictureRows(term.capture(true))).toBe(0);

      // Without a resize, the chat screen comes back as it was; Esc works as well as q.
      term.type("/watch");
      await until(() => (pictureRows(term.capture(true)) >= 50 ? true : undefined), "the picture again");
      term.keys(["Escape"]);
      const again = await until(() => {
        const s = screen();
        return (s.match(/\* back to chat/g) ?? []).length === 2 ? s : undefined;
      }, "the chat again");
      expect(again).toMatch(/\] > \/watch\n\* back to chat/);
      expect(pictureRows(term.capture(true))).toBe(0);
      term.type("/who");
      await until(() => (screen().includes("* 1 member(s) in room cinema") ? true : undefined), "/who");
      expect(screen()).toMatch(
        /\[playing sample\.mp4 0:\d\d\/0:10 \d+ fps, \d+ dropped(, audio track \d+ \(not played\)|, no sound)?\] >/,
      );
      expect(screen()).not.toContain("finished");
      term.type("/quit");
      await until(() => (term.paneDead() ? true : undefined), "the client to exit");
    } catch (e) {
      throw new Error(`${(e as Error).message}${await failNote()}`);
    }
  });

  it("gives the terminal back when the client is interrupted (SIGINT) while watching", async () => {
    // Not exec'd: the shell outlives the client, so the terminal state it left behind can be read.
    const cmd = `'${process.execPath}' '${BIN}' client --name tv2 --room cinema2 --core 127.0.0.1:${core.port} --identity '${path.join(home, "id2.json")}' 2>/dev/null; echo CLIENT-EXITED; sleep 60`;
    term2.start(cmd, 80, 24);
    await until(() => (term2.capture().includes("nobody else is here yet") ? true : undefined), "the welcome");
    term2.type("/play sample.mp4 --tty");
    await until(() => (pictureRows(term2.capture(true)) >= 20 ? true : undefined), "the picture");
    expect(term2.format("#{alternate_on}")).toBe("1");
    expect(term2.format("#{cursor_flag}")).toBe("0");
    const shell = term2.panePid();
    const client = Number(readFileSync(`/proc/${shell}/task/${shell}/children`, "utf8").trim().split(" ")[0]);
    process.kill(client, "SIGINT");
    await until(() => (term2.capture().includes("CLIENT-EXITED") ? true : undefined), "the client to exit");
    expect(term2.format("#{alternate_on}")).toBe("0");
    expect(term2.format("#{cursor_flag}")).toBe("1");
    expect(pictureRows(term2.capture(true))).toBe(0);
    expect(term2.capture()).toContain("> /play sample.mp4 --tty");
  });

  it("without a terminal (--json, stdin a pipe) /watch is a one-line error and nothing else changes", async () => {
    const p = runSealroom([
      "client",
      "--json",
      "--name",
      "bot",
      "--room",
      "cinema3",
      "--core",
      `127.0.0.1:${core.port}`,
      "--identity",
      path.join(home, "id3.json"),
    ]);
    try {
      await p.waitFor(/"event":"welcome"/);
      p.child.stdin!.write("/watch\n/play sample.mp4 --tty\n");
      await p.waitFor(/"event":"commandError"[^\n]*\n[^\n]*"event":"commandError"/);
      const errors = p
        .stdout()
        .split("\n")
        .filter((l) => l.includes("commandError"))
        .map((l) => JSON.parse(l) as { message: string });
      expect(errors.map((e) => e.message)).toEqual([NEEDS_TERMINAL, NEEDS_TERMINAL]);
      expect(p.stdout()).not.toContain("\x1b[");
      expect(p.stdout()).not.toContain('"event":"stream"');
      p.child.stdin!.end();
      expect((await p.exited).code).toBe(0);
    } finally {
      p.child.kill();
    }
  });
});

describe.skipIf(!TMUX || !hasVideo)("subtitles in the terminal watch mode (tmux)", { timeout: 60_000 }, () => {
  let core: Awaited<ReturnType<typeof startCore>>;
  let home: string;
  const term = new Tmux();
  const again = new Tmux();
  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "sealroom-tty-subs-"));
    const lib = path.join(home, "videos");
    mkdirSync(lib);
    await fs.copyFile(path.join(VIDEOS, "sample.mp4"), path.join(lib, "sample.mp4"));
    writeFileSync(
      path.join(lib, "sample.en.srt"),
      "1\n00:00:00,000 --> 00:00:05,000\nFirst line, <b>bold</b>\n\n2\n00:00:05,000 --> 00:00:10,000\n<script>second</script> line\n",
    );
    writeFileSync(path.join(lib, "sample.fr.srt"), "1\n00:00:00,000 --> 00:00:10,000\nBonjour\n");
    core = await startCore({ videos: { dir: lib, cacheDir: path.join(home, "cache") } } as Parameters<
      typeof startCore
    >[0]);
  });
  afterAll(async () => {
    term.kill();
    again.kill();
    await core?.stop();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("/subs lists and chooses a track; its cue is the line under the status, timed by the stream", async () => {
    const cmd = `exec '${process.execPath}' '${BIN}' client --name tv --room subs --core 127.0.0.1:${core.port} --identity '${path.join(home, "id.json")}' 2>/dev/null`;
    term.start(cmd, 80, 24);
    const screen = () => term.capture();
    /** The row under the watch status line. */
    const subLine = () => {
      const lines = screen().split("\n");
      const i = lines.findIndex((l) => / · drawn \d+ · /.test(l));
      return i >= 0 ? lines[i + 1] : undefined;
    };
    try {
      await until(() => (screen().includes("nobody else is here yet") ? true : undefined), "the welcome");
      term.type("/play sample.mp4");
      await until(() => (screen().includes("* sample.mp4 playing at") ? true : undefined), "the stream");
      term.type("/pause");
      term.type("/seek 0:01");
      term.type("/subs");
      await until(() => (screen().includes("* subtitles of sample.mp4") ? true : undefined), "the track list");
      expect(screen()).toMatch(/ 1 {2}English {2}\[en, file\]/);
      expect(screen()).toMatch(/ 2 {2}French {2}\[fr, file\]/);
      term.type("/subs en");
      await until(() => (screen().includes("* subtitles ready: 2 cue(s)") ? true : undefined), "the cues");
      // From 0:01, playing: the first cue now, the second one at 0:05 by itself.
      term.type("/resume");
      term.type("/watch");
      const rows = await until(() => {
        const lines = screen().split("\n");
        const i = lines.findIndex((l) => / · drawn \d+ · /.test(l));
        return i >= 0 &&
          lines[i].startsWith("playing") &&
          lines[i + 1]?.includes("First line, bold") &&
          pictureRows(term.capture(true)) >= 20
          ? lines
          : undefined;
      }, "the picture and the subtitle line");
      const i = rows.findIndex((l) => / · drawn \d+ · /.test(l));
      expect(i).toBe(22); // status on row 23, subtitle on row 24 of 24
      expect(rows[i]).toMatch(/^playing sample\.mp4 0:0[1-4]\//);
      mkdirSync(SHOTS, { recursive: true });
      writeFileSync(path.join(SHOTS, "terminal-subtitles.txt"), screen());
      writeFileSync(path.join(SHOTS, "terminal-subtitles.ans"), term.capture(true));
      // Markup stays text; terminal controls never reach the screen.
      await until(
        () => (subLine()?.includes("<script>second</script> line") ? true : undefined),
        "the second cue at 0:05",
        10_000,
      );
      // A seek back brings the first cue back.
      term.keys(["q"]);
      await until(() => (screen().includes("* back to chat") ? true : undefined), "the chat");
      term.type("/seek 0:02");
      term.type("/watch");
      await until(() => (subLine()?.includes("First line, bold") ? true : undefined), "the first cue after the seek");
      term.keys(["q"]);
      term.type("/quit");
      await until(() => (term.paneDead() ? true : undefined), "the client to exit");
      // The next run remembers the choice (language and source, beside the identity).
      again.start(cmd, 80, 24);
      const screen2 = () => again.capture();
      await until(() => (screen2().includes("nobody else is here yet") ? true : undefined), "the welcome again");
      again.type("/play sample.mp4");
      await until(() => (screen2().includes("* subtitles ready: 2 cue(s)") ? true : undefined), "the remembered track");
      again.type("/subs off");
      await until(() => (screen2().includes("* subtitles off") ? true : undefined), "subtitles off");
      again.type("/quit");
      await until(() => (again.paneDead() ? true : undefined), "the client to exit");
    } catch (e) {
      throw new Error(`${(e as Error).message}\nscreen:\n${screen()}`);
    }
  });
});

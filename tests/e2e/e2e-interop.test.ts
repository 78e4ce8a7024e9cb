// The web app and the native client in one room: Chromium through the
// bridge, `bin/sealroom client --json` over TCP, both against the real core.
// Each must verify and open what the other sealed.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ROOT,
  canvasSignature,
  createRoom,
  ensureWebBuilt,
  launchChromium,
  newUser,
  selfId,
  startStack,
  type Stack,
  type User,
} from "../helpers/browser";

const BIN = path.join(ROOT, "bin", "sealroom");
const VIDEOS = path.join(ROOT, "videos");
const hasClient = existsSync(path.join(ROOT, "client", "main.ts"));
const hasVideo =
  existsSync(path.join(ROOT, "server", "video", "service.ts")) && existsSync(path.join(VIDEOS, "sample.mp4"));

type Ev = { event: string; [k: string]: unknown };

/** The client binary with stdin piped and one JSON event per stdout line. */
class NativeClient {
  readonly events: Ev[] = [];
  stderr = "";
  private rest = "";
  private wakers: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d: string) => {
      const lines = (this.rest + d).split("\n");
      this.rest = lines.pop()!;
      for (const l of lines) if (l.trim()) this.events.push(JSON.parse(l) as Ev);
      this.wakers.splice(0).forEach((w) => w());
    });
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((r) => proc.on("exit", (code) => (this.wakers.splice(0).forEach((w) => w()), r(code))));
  }

  line(text: string): void {
    this.proc.stdin.write(text + "\n");
  }

  async next(pred: (e: Ev) => boolean, what: string, timeoutMs = 15_000): Promise<Ev> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (this.proc.exitCode !== null) throw new Error(`client exited before ${what}: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; events ${JSON.stringify(this.events).slice(0, 2000)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wakers.push(() => (clearTimeout(t), r()));
      });
    }
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

describe.skipIf(!hasClient)("browser <-> native client", () => {
  let stack: Stack;
  let browser: Browser;
  let alice: User;
  let carl: NativeClient;
  let home: string;
  let room: string;
  let carlId: string;
  let link: string;
  const toBridge: string[] = [];

  beforeAll(async () => {
    await ensureWebBuilt();
    stack = await startStack(hasVideo ? { videos: VIDEOS } : {});
    browser = await launchChromium();
    home = mkdtempSync(path.join(os.tmpdir(), "sealroom-interop-"));
    alice = await newUser(browser);
    // Everything the page sends the bridge: request URLs and bodies, WebSocket frames.
    alice.page.on("request", (r) => toBridge.push(r.url() + (r.postData() ?? "")));
    alice.page.on("websocket", (ws) =>
      ws.on("framesent", (f) =>
        toBridge.push(typeof f.payload === "string" ? f.payload : Buffer.from(f.payload).toString("latin1")),
      ),
    );
    link = await createRoom(alice.page, stack.url, "alice");
    room = new URL(link).pathname.split("/").pop()!;
    // The terminal client joins the browser's v2 room from the same link.
    const proc = spawn(
      process.execPath,
      [BIN, "client", "--json", "--name", "carl", "--link", link, "--core", `${stack.core.host}:${stack.core.port}`],
      {
        env: { ...process.env, XDG_CONFIG_HOME: path.join(home, "config") },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    carl = new NativeClient(proc);
  }, 120_000);

  afterAll(async () => {
    carl?.kill();
    await carl?.exited;
    await browser?.close();
    await stack?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("sees each other, with the same safety codes on both sides", async () => {
    const w = await carl.next((e) => e.event === "welcome", "welcome");
    carlId = w.id as string;
    expect(w.room).toBe(room);
    const members = w.members as { id: string; name: string; safety: string; self: boolean }[];
    const aliceInCli = members.find((m) => m.name === "alice")!;
    expect(aliceInCli).toBeTruthy();
    expect(aliceInCli.id).toBe(await selfId(alice.page));

    const carlInWeb = alice.page.locator(`li.member[data-member-id="${carlId}"]`);
    await carlInWeb.waitFor();
    await expect(carlInWeb.locator(".agent").textContent()).resolves.toMatch(/^sealroom-cli\//);
    const carlSelf = members.find((m) => m.self)!;
    await expect(carlInWeb.locator(".safety").textContent()).resolves.toBe(carlSelf.safety);
    await expect(alice.page.locator("li.member.self .safety").textContent()).resolves.toBe(aliceInCli.safety);
    await alice.page.locator(".toasts").getByText("carl joined").waitFor();
  });

  it("browser -> client: the client verifies and opens it", async () => {
    await alice.page.getByLabel("Message").fill("hello carl, from the browser ✓");
    await alice.page.getByLabel("Message").press("Enter");
    const m = await carl.next(
      (e) => e.event === "message" && e.text === "hello carl, from the browser ✓",
      "message from alice",
    );
    expect(m.verified).toBe(true);
    expect(m.name).toBe("alice");
    await expect
      .poll(() => alice.page.locator("li.msg", { hasText: "hello carl" }).getAttribute("data-status"))
      .toBe("sent");
  });

  it("client -> browser: shown verified, to everyone and privately", async () => {
    carl.line("hi alice, from the terminal");
    const got = alice.page.locator("li.msg", { hasText: "hi alice, from the terminal" });
    await got.waitFor();
    await expect(got.locator(".badge.ok").textContent()).resolves.toContain("verified");
    await expect(got.locator(".who").textContent()).resolves.toBe("carl");

    carl.line("/msg alice only for you");
    const direct = alice.page.locator("li.msg", { hasText: "only for you" });
    await direct.waitFor();
    await expect(direct.locator(".badge.ok").textContent()).resolves.toContain("verified");
  });

  it("browser -> selected client only: the client sees it as direct", async () => {
    // A second browser member makes "to carl only" differ from "to everyone".
    const bob = await newUser(browser);
    await bob.page.goto(alice.page.url());
    await bob.page.getByLabel("Your name").fill("bob");
    await bob.page.getByRole("button", { name: "Join" }).click();
    await expect.poll(() => alice.page.locator("li.member").count()).toBe(3);
    await alice.page.getByLabel("Write to carl only").check();
    await alice.page.getByLabel("Message").fill("psst carl");
    await alice.page.getByLabel("Message").press("Enter");
    const m = await carl.next((e) => e.event === "message" && e.text === "psst carl", "direct message");
    expect(m.verified).toBe(true);
    expect(m.direct).toBe(true);
    await alice.page.waitForTimeout(300);
    expect(await bob.page.locator("li.msg", { hasText: "psst carl" }).count()).toBe(0);
    await alice.page.getByRole("button", { name: "Send to everyone" }).first().click();
    // Two browsers and a terminal in one v2 room from one link: bob's room message reaches both.
    await bob.page.getByLabel("Message").fill("bob to the room");
    await bob.page.getByLabel("Message").press("Enter");
    expect(
      (await carl.next((e) => e.event === "message" && e.text === "bob to the room", "bob's message")).verified,
    ).toBe(true);
    await expect(
      alice.page.locator("li.msg", { hasText: "bob to the room" }).locator(".badge.ok").textContent(),
    ).resolves.toContain("verified");
    await bob.context.close();
  });

  it.skipIf(!hasVideo)("a watch party started from the terminal plays in the browser", async () => {
    carl.line("/play sample.mp4 --room");
    const party = alice.page.locator('.player[data-scope="room"]');
    await party.locator("canvas[data-drawn]").waitFor({ timeout: 10_000 });
    await expect(party.getByTestId("party").textContent()).resolves.toContain("Watch party started by carl");
    const a = await canvasSignature(alice.page, '.player[data-scope="room"] canvas');
    await alice.page.waitForTimeout(500);
    expect(await canvasSignature(alice.page, '.player[data-scope="room"] canvas')).not.toBe(a);
    // Controls work across: the browser pauses, the terminal hears it.
    await party.getByRole("button", { name: "Pause" }).click();
    const st = await carl.next((e) => e.event === "streamState" && e.state === "paused", "paused");
    expect(st.by).toBe(await selfId(alice.page));
    await party.getByRole("button", { name: "Stop for everyone" }).click();
    await carl.next((e) => e.event === "streamEnd", "streamEnd");
  });

  it("a client that quits becomes `left` in the browser", async () => {
    carl.line("/quit");
    expect(await carl.exited).toBe(0);
    await expect.poll(() => alice.page.locator(`li.member[data-member-id="${carlId}"]`).count()).toBe(0);
    await alice.page.locator(".toasts").getByText("carl left").waitFor();
  });

  it("the room secret in the link's fragment never reached the bridge", () => {
    const secret = link.split("#")[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const std = Buffer.from(secret.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("base64").slice(0, 20);
    expect(toBridge.length).toBeGreaterThan(3);
    expect(toBridge.some((s) => s.includes("sealroom-skd-v2") || s.includes("sealroom-sk-v2"))).toBe(true);
    for (const s of toBridge) {
      expect(s.includes(secret)).toBe(false);
      expect(s.includes(std)).toBe(false);
    }
  });

  it("logged no console errors", () => {
    expect(alice.errors).toEqual([]);
  });
});

if (!hasClient) {
  describe("browser <-> native client", () => {
    it.skip("needs the native client (client/main.ts)", () => {});
  });
}

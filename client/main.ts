// `sealroom client`: flags (args.ts) -> files and identity -> session over
// TCP -> terminal UI or line-by-line commands, until /quit, end of input, or a
// fatal error (exitPolicy.ts says which, and with which code).

import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import { EXIT } from "../common/exit";
import type { TrustOnFirstUse } from "../common/tls";
import type { Identity } from "../protocol/crypto";
import { newRoomId } from "../protocol/names";
import {
  deriveRoomKeys,
  generateRoomSecret,
  parseRoomSecret,
  roomLink,
  type RoomKeys,
} from "../protocol/e2e/roomSecret";
import { UsageError } from "../common/args";
import { ClientSession } from "../protocol/session";
import { ClientApp } from "./app";
import { parseClientArgs, USAGE, type ClientConfig } from "./args";
import { ExitPolicy, FIRST_CONNECT_ATTEMPTS, fileExit, identityExit, type Exit } from "./exitPolicy";
import { loadOrCreateIdentity } from "./identityFile";
import { cursorsPathFor, FileCursorStore } from "./cursorFile";
import { FileV2KeyStore, v2KeysPathFor } from "./keyFile2";
import { FileKeyStore, knownKeysPathFor } from "./knownKeys";
import { handleLines } from "./lineInput";
import { JsonOutput, PlainOutput, TerminalUi, type Output } from "./output";
import { FrameRecorder } from "./recorder";
import * as render from "./render";
import { failoverConnector, tcpConnector, type TcpOptions } from "./tcp";
import { corePins, coreTrust } from "./tofu";
import { decodeJpeg } from "./tty/jpeg";
import { ttyOut, WatchView } from "./tty/watchView";
import { loadSubtitleChoice, saveSubtitleChoice, subtitlePrefsPathFor } from "./subtitlePrefs";
import type { SubtitleChoice } from "./subtitles";

export const CLIENT_AGENT = "sealroom-cli/0.1.0";

/** At end of input, how long unacknowledged messages may take to be acknowledged. */
const EXIT_GRACE_MS = 10_000;

const warn = (message: string) => process.stderr.write(`sealroom client: ${message}\n`);

const show = (out: Output, l: render.Line) => out.event(l.json, l.human);

export async function main(argv: string[]): Promise<number> {
  const config = parseClientArgs(argv);
  if (config === "help") {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const files = await openFiles(config);
  if ("code" in files) {
    if (files.message) warn(files.message);
    return files.code;
  }

  const v2 = config.secret === null ? null : await roomKeysFor(config.secret, config.room);
  const room = v2?.keys.room ?? config.room ?? newRoomId();
  const interactive = !config.json && files.script === undefined && !!process.stdin.isTTY && !!process.stdout.isTTY;
  const ui = interactive ? new TerminalUi(process.stdin, process.stdout) : null;
  const out: Output = ui ?? (config.json ? new JsonOutput(process.stdout) : new PlainOutput(process.stdout));
  const invite = v2 ? roomLink(config.webOrigin, room, v2.secret) : null;
  if (config.room === null) show(out, invite ? render.newLink(room, invite) : render.newRoom(room));

  // Certificates are trusted on first use per core: each of a cluster's cores is remembered under its own host:port.
  const pins = corePins(config.identityFile, warn);
  const coresText = config.cores.map((c) => c.text).join(",");
  // Set once the run is under way; the connector may call it on any attempt.
  let untrusted: (message: string) => void = () => {};
  const session = new ClientSession({
    identity: files.identity,
    name: config.name,
    room,
    agent: CLIENT_AGENT,
    keyStore: new FileKeyStore(knownKeysPathFor(config.identityFile), warn),
    // Cap durable: resume from the last seq kept beside the identity.
    cursors: new FileCursorStore(cursorsPathFor(config.identityFile), warn),
    connect: failoverConnector(
      config.cores.map((c) => {
        const trust = coreTrust(pins, c.text, (fp) => show(out, render.certificateTrusted(c.text, fp)));
        return tcpConnector(tcpOptions(config, c, trust, (m) => untrusted(m)));
      }),
    ),
    // Subtitles always; small frames only where they are drawn here and not recorded.
    // Sound is recorded (--record) and its track shown, never played; the clock times each frame's presentation.
    caps: [...(interactive && !files.recorder ? ["library2", "smallVideo"] : ["library2"]), "audio", "clock"],
    ...(v2 ? { roomKeys: v2.keys, v2KeyStore: new FileV2KeyStore(v2KeysPathFor(config.identityFile), warn) } : {}),
  });
  const tty = ui ? { view: watchViewFor(process.stdout), chat: ui } : undefined;
  const subsFile = subtitlePrefsPathFor(config.identityFile);
  const subtitles = {
    initial: loadSubtitleChoice(subsFile),
    save: (c: SubtitleChoice | null) => saveSubtitleChoice(subsFile, c, warn),
  };
  const app = new ClientApp({
    session,
    out,
    core: coresText,
    subtitles,
    ...(invite ? { invite } : {}),
    ...(files.recorder ? { recorder: files.recorder } : {}),
    ...(tty ? { tty } : {}),
  });
  return runUntilDone({
    session,
    app,
    out,
    ui,
    source: files.script ?? process.stdin,
    recorder: files.recorder,
    // Before the first welcome, every core of the list gets a try (at least three attempts in all).
    policy: new ExitPolicy(coresText, Math.max(FIRST_CONNECT_ATTEMPTS, config.cores.length)),
    onUntrusted: (f) => (untrusted = f),
  });
}

/** v2: the keys from the link's secret ("new": a fresh one); the room must be the one the secret names. */
async function roomKeysFor(secretText: string, room: string | null): Promise<{ keys: RoomKeys; secret: string }> {
  const secret = secretText === "new" ? generateRoomSecret() : secretText;
  const parsed = parseRoomSecret(secret);
  if (!parsed.ok) throw new UsageError(`the room link's secret: ${parsed.reason}`);
  const keys = await deriveRoomKeys(parsed.secret);
  if (room !== null && keys.room !== room)
    throw new UsageError("the secret in this link is not the secret of this room (check the link)");
  return { keys, secret };
}

/** The terminal watch view; the screen is given back however the process ends. */
function watchViewFor(stdout: NodeJS.WriteStream): WatchView {
  const view = new WatchView(ttyOut(stdout), decodeJpeg);
  // TTY writes are synchronous here, so this reaches the terminal before exit.
  process.on("exit", () => view.close());
  process.on("uncaughtExceptionMonitor", () => view.close());
  return view;
}

interface Opened {
  script: Readable | undefined;
  recorder: FrameRecorder | undefined;
  identity: Identity;
}

/** --script, --record and the identity, in that order; the exit when one cannot be used. */
async function openFiles(config: ClientConfig): Promise<Opened | Exit> {
  let script: Readable | undefined;
  if (config.script !== null) {
    try {
      await fs.access(config.script);
    } catch (e) {
      return fileExit(`cannot read --script ${config.script}: ${(e as Error).message}`);
    }
    script = createReadStream(config.script, "utf8");
  }
  let recorder: FrameRecorder | undefined;
  if (config.record !== null) {
    try {
      await fs.mkdir(config.record, { recursive: true });
    } catch (e) {
      return fileExit(`cannot create --record ${config.record}: ${(e as Error).message}`);
    }
    recorder = new FrameRecorder(path.resolve(config.record), warn);
  }
  try {
    return { script, recorder, identity: (await loadOrCreateIdentity(config.identityFile)).identity };
  } catch (e) {
    return identityExit(e);
  }
}

function tcpOptions(
  config: ClientConfig,
  core: { host: string; port: number },
  trust: TrustOnFirstUse,
  onUntrusted: (message: string) => void,
): TcpOptions {
  const { host, port } = core;
  if (!config.tls) return { host, port };
  return { host, port, tls: { trust, ...(config.pin !== null ? { pin: config.pin } : {}) }, onUntrusted };
}

interface Run {
  session: ClientSession;
  app: ClientApp;
  out: Output;
  ui: TerminalUi | null;
  /** Where lines come from when there is no terminal UI: --script or stdin. */
  source: Readable;
  recorder: FrameRecorder | undefined;
  policy: ExitPolicy;
  /** Hands over what to do about an untrusted certificate. */
  onUntrusted: (f: (message: string) => void) => void;
}

/** Starts the session and resolves the exit code once the run is over. */
function runUntilDone(r: Run): Promise<number> {
  const { session, out, ui, source, recorder, policy } = r;
  return new Promise<number>((resolve) => {
    const input = ui?.rl ?? readline.createInterface({ input: source, terminal: false, crlfDelay: Infinity });
    let finished = false;
    let stopSignals = () => {};
    const finish = async ({ code, message }: Exit) => {
      if (finished) return;
      finished = true;
      stopSignals();
      session.stop();
      input.close();
      if (source !== process.stdin) process.stdin.pause();
      source.destroy();
      await recorder?.flush();
      r.app.close();
      out.close();
      if (message) warn(message);
      resolve(code);
    };

    // Leaving: acknowledge what is pending (bounded), then quit.
    let leaving = false;
    const leave = async () => {
      if (leaving) return;
      leaving = true;
      if (session.pendingCount > 0 && session.state !== "closed") {
        const acked = await session.drain(EXIT_GRACE_MS);
        if (!acked && session.pendingCount > 0) warn(`leaving with ${session.pendingCount} unacknowledged message(s)`);
      }
      await finish(policy.left());
    };

    r.onUntrusted((m) => void finish(policy.untrusted(m)));
    session.on("error", (e) => policy.error(e));
    session.on("disconnected", (d) => {
      const exit = policy.disconnected(d);
      if (exit) void finish(exit);
    });
    session.on("closed", (c) => {
      if (!finished) void finish(policy.closed(c));
    });

    // Input: lines are handled one at a time, in order, once the session is first online.
    const firstOnline = new Promise<void>((ready) => {
      const off = session.on("welcome", () => {
        off();
        ready();
      });
    });
    void handleLines(input, { ready: firstOnline, handle: (l) => r.app.line(l), stopped: () => finished }).then(
      (end) => (end === "stopped" ? undefined : leave()),
    );

    const onSignal = () => void leave();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    ui?.rl.on("SIGINT", onSignal);
    stopSignals = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
    session.start();
  });
}

// `sealroom client`: flags -> identity -> session over TCP -> terminal UI or
// line-by-line commands, until /quit, end of input, or a fatal error.

import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import { parseFlags, parseHostPort, UsageError } from "../common/args";
import { EXIT } from "../common/exit";
import { canonicalName, isRoom, nameProblem, newRoomId } from "../protocol/names";
import { ClientSession } from "../protocol/session";
import { ClientApp } from "./app";
import { defaultIdentityPath, IdentityFileError, loadOrCreateIdentity } from "./identityFile";
import { JsonOutput, PlainOutput, TerminalUi, type Output } from "./output";
import { corePinsPathFor, FileKeyStore, knownKeysPathFor } from "./knownKeys";
import { FrameRecorder } from "./recorder";
import { normalizeFingerprint, type TrustOnFirstUse } from "../common/tls";
import { tcpConnector } from "./tcp";

export const CLIENT_AGENT = "sealroom-cli/0.1.0";

const USAGE = `Usage: sealroom client --name NAME [--room ROOM] [--core HOST:PORT] [flags]

  --name NAME         your name in the room (1-32 letters, digits, spaces, _ - .)
  --room ROOM         room to join (A-Z a-z 0-9 _ -, up to 64); default: a new
                      random room, printed so you can share it
  --core HOST:PORT    the core server (default 127.0.0.1:7700)
  --identity FILE     your key pair (default $XDG_CONFIG_HOME/sealroom/identity-<name>.json,
                      created with mode 0600 on first use); the ids you have seen per
                      room and name are kept beside it (known-<name>.json) to warn
                      when someone's key changes
  --tls               connect with TLS: a certificate from a known CA is accepted;
                      any other is trusted on first use and remembered beside the
                      identity (known-cores.json), and refused if it later changes
  --pin SHA256        accept exactly the core certificate with this SHA-256 fingerprint
                      (self-signed is fine; implies --tls; replaces what was remembered)
  --json              one JSON object per event on stdout (for scripts and bots)
  --script FILE       read commands from FILE instead of stdin
  --record DIR        save every received video frame as DIR/<sid>-<frame>.jpg

Commands are read from the terminal (or line by line from stdin / --script);
type /help once connected. Exit codes: 0 after /quit or end of input, 1 fatal
protocol error, 2 usage, 69 core unreachable, 73 identity file unusable,
77 the core's certificate does not match the pin or the one first seen.
`;

/** Connection attempts before the first welcome after which the core counts as unreachable. */
const FIRST_CONNECT_ATTEMPTS = 3;
/** At end of input, how long unacknowledged messages may take to be acknowledged. */
const EXIT_GRACE_MS = 10_000;
/** Lines read ahead of the one being handled before input is paused. */
const MAX_QUEUED_LINES = 1_000;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    name: { type: "string" },
    room: { type: "string" },
    core: { type: "string" },
    identity: { type: "string" },
    tls: { type: "boolean" },
    pin: { type: "string" },
    json: { type: "boolean" },
    script: { type: "string" },
    record: { type: "string" },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (values.name === undefined) throw new UsageError("--name is required");
  const name = canonicalName(values.name);
  const problem = nameProblem(name);
  if (problem) throw new UsageError(`--name: ${problem}`);
  if (values.room !== undefined && !isRoom(values.room)) throw new UsageError("--room must be 1 to 64 characters of A-Z a-z 0-9 _ -");
  const core = parseHostPort(values.core ?? "127.0.0.1:7700", "--core");
  if (values.pin !== undefined && normalizeFingerprint(values.pin) === null) throw new UsageError("--pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)");
  const json = values.json ?? false;
  const coreText = `${core.host.includes(":") ? `[${core.host}]` : core.host}:${core.port}`;

  let script: Readable | undefined;
  if (values.script !== undefined) {
    try {
      await fs.access(values.script);
    } catch (e) {
      process.stderr.write(`sealroom client: cannot read --script ${values.script}: ${(e as Error).message}\n`);
      return EXIT.cantCreate;
    }
    script = createReadStream(values.script, "utf8");
  }
  let recorder: FrameRecorder | undefined;
  if (values.record !== undefined) {
    try {
      await fs.mkdir(values.record, { recursive: true });
    } catch (e) {
      process.stderr.write(`sealroom client: cannot create --record ${values.record}: ${(e as Error).message}\n`);
      return EXIT.cantCreate;
    }
    recorder = new FrameRecorder(path.resolve(values.record), (m) => process.stderr.write(`sealroom client: ${m}\n`));
  }

  const identityFile = values.identity ?? defaultIdentityPath(name);
  let identity;
  try {
    identity = (await loadOrCreateIdentity(identityFile)).identity;
  } catch (e) {
    process.stderr.write(`sealroom client: ${(e as Error).message}\n`);
    return e instanceof IdentityFileError || (e as NodeJS.ErrnoException).code ? EXIT.cantCreate : EXIT.failure;
  }

  const room = values.room ?? newRoomId();
  const interactive = !json && script === undefined && !!process.stdin.isTTY && !!process.stdout.isTTY;
  const ui = interactive ? new TerminalUi(process.stdin, process.stdout) : null;
  const out: Output = ui ?? (json ? new JsonOutput(process.stdout) : new PlainOutput(process.stdout));
  if (values.room === undefined) {
    out.event(
      { event: "room", room, generated: true },
      `* new room ${room}: others join with  sealroom client --name THEIR_NAME --room ${room}`,
    );
  }

  // Certificate trouble ends the run at once: retrying cannot fix it.
  let untrusted = (message: string) => void message;
  const useTls = values.tls || values.pin !== undefined;
  const pins = new FileKeyStore(corePinsPathFor(identityFile), (m) => process.stderr.write(`sealroom client: ${m}\n`));
  const trust: TrustOnFirstUse = {
    known: () => pins.get("tls", coreText),
    remember: (fp) => {
      const first = pins.get("tls", coreText) === undefined;
      pins.set("tls", coreText, fp);
      if (first) out.event({ event: "certificateTrusted", core: coreText, fingerprint: fp }, `* trusting ${coreText}'s certificate ${fp} from now on (first use)`);
    },
  };
  const session = new ClientSession({
    identity,
    name,
    room,
    agent: CLIENT_AGENT,
    keyStore: new FileKeyStore(knownKeysPathFor(identityFile), (m) => process.stderr.write(`sealroom client: ${m}\n`)),
    connect: tcpConnector({
      host: core.host,
      port: core.port,
      ...(useTls ? { tls: { trust, ...(values.pin !== undefined ? { pin: values.pin } : {}) }, onUntrusted: (m: string) => untrusted(m) } : {}),
    }),
  });
  const app = new ClientApp({ session, out, core: coreText, ...(recorder ? { recorder } : {}) });

  return new Promise<number>((resolve) => {
    let finished = false;
    let stopSignals = () => {};
    const finish = async (code: number, message?: string) => {
      if (finished) return;
      finished = true;
      stopSignals();
      session.stop();
      input.close();
      if (source !== process.stdin) process.stdin.pause();
      source.destroy();
      await recorder?.flush();
      out.close();
      if (message) process.stderr.write(`sealroom client: ${message}\n`);
      resolve(code);
    };

    // Leaving: acknowledge what is pending (bounded), then quit.
    let leaving = false;
    const leave = async () => {
      if (leaving) return;
      leaving = true;
      if (session.pendingCount > 0 && session.state !== "closed") {
        const acked = await session.drain(EXIT_GRACE_MS);
        if (!acked && session.pendingCount > 0) process.stderr.write(`sealroom client: leaving with ${session.pendingCount} unacknowledged message(s)\n`);
      }
      await finish(EXIT.ok);
    };

    untrusted = (m) => void finish(EXIT.untrusted, m);
    let failedAttempts = 0;
    let lastServerError: { code: string; message: string } | null = null;
    session.on("error", (e) => {
      if (e.fatal) lastServerError = e;
    });
    session.on("disconnected", (d) => {
      if (d.everOnline) return;
      if (++failedAttempts < FIRST_CONNECT_ATTEMPTS) return;
      if (lastServerError) void finish(EXIT.failure, `fatal error ${lastServerError.code}: ${lastServerError.message}`);
      else void finish(EXIT.unavailable, `core unreachable at ${coreText} after ${failedAttempts} attempts (${d.reason})`);
    });
    session.on("closed", ({ reason, error }) => {
      if (finished) return;
      if (error) void finish(EXIT.failure, `fatal error ${error.code}: ${error.message}`);
      else void finish(EXIT.failure, `session closed: ${reason}`);
    });

    // Input: lines are handled one at a time, in order, once the session is first online.
    const source: Readable = script ?? process.stdin;
    const input = ui?.rl ?? readline.createInterface({ input: source, terminal: false, crlfDelay: Infinity });
    const lines: string[] = [];
    let ended = false;
    let wake: (() => void) | null = null;
    const poke = () => {
      wake?.();
      wake = null;
    };
    input.on("line", (l) => {
      lines.push(l);
      if (lines.length >= MAX_QUEUED_LINES) input.pause();
      poke();
    });
    input.on("close", () => {
      ended = true;
      poke();
    });
    const firstOnline = new Promise<void>((r) => {
      const off = session.on("welcome", () => {
        off();
        r();
      });
    });
    void (async () => {
      await firstOnline;
      for (;;) {
        if (finished) return;
        const l = lines.shift();
        if (l !== undefined) {
          if (lines.length < MAX_QUEUED_LINES / 2) input.resume();
          if ((await app.line(l)) === "quit") return leave();
          continue;
        }
        if (ended) return leave();
        await new Promise<void>((r) => (wake = r));
      }
    })();

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

// `sealroom client` flags -> a checked ClientConfig, or a one-line UsageError.
// Pure: nothing is opened or created here (main.ts does that).

import { parseCoreList, parseFlags, UsageError } from "../common/args";
import { normalizeFingerprint } from "../common/tls";
import { canonicalName, isRoom, nameProblem } from "../protocol/names";
import { defaultIdentityPath } from "./identityFile";

export const USAGE = `Usage: sealroom client --name NAME [--room ROOM | --link URL | --new-link] [--core HOST:PORT] [flags]

  --name NAME         your name in the room (1-32 letters, digits, spaces, _ - .)
  --room ROOM         room to join (A-Z a-z 0-9 _ -, up to 64); default: a new
                      random room, printed so you can share it
  --link URL          join an end-to-end v2 room from its link https://HOST/r/ROOM#SECRET
                      (the secret after # never leaves this client)
  --secret SECRET     with --room: the room link's secret (the same as --link);
                      write --secret=SECRET, as it may start with -
  --new-link          make a new v2 room and print its link (see /invite)
  --web ORIGIN        where the web app is, for the link /invite prints (default:
                      --link's origin, else http://CORE_HOST:7780)
  --core HOST:PORT    the core server (default 127.0.0.1:7700); a comma-separated list
                      for a cluster (A:7700,B:7700): when one closes or does not answer,
                      the next is dialed and the session resumes there
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
                      and the stream's sound as DIR/<sid>.opus (Ogg Opus)

Commands are read from the terminal (or line by line from stdin / --script);
type /help once connected. In a terminal, /watch draws the current stream
there (any key: back to chat). Exit codes: 0 after /quit or end of input, 1 fatal
protocol error, 2 usage, 69 core unreachable, 73 identity file unusable,
77 the core's certificate does not match the pin or the one first seen.
`;

export const DEFAULT_CORE = "127.0.0.1:7700";

export interface ClientConfig {
  /** Canonical (trimmed, NFC) and valid. */
  name: string;
  /** Null: none given, a new random room is made and printed. */
  room: string | null;
  /** The first of `cores`. */
  core: { host: string; port: number };
  /** "host:port" ("[v6]:port") of `core`, as printed and as the key certificates are remembered under. */
  coreText: string;
  /** Every --core given, in order (one unless a cluster's list): dialed in turn. */
  cores: { host: string; port: number; text: string }[];
  identityFile: string;
  /** --tls, or implied by --pin. */
  tls: boolean;
  /** --pin as given (checked to be a SHA-256 fingerprint). */
  pin: string | null;
  json: boolean;
  script: string | null;
  record: string | null;
  /** v2: the room link's secret (from --link or --secret); "new" with --new-link. Null: a v1 room. */
  secret: string | null;
  /** For /invite's link. */
  webOrigin: string;
}

/** Room and secret of `https://host/r/ROOM#SECRET` (checked against each other later, when the keys are derived). */
export function splitRoomLink(link: string): { origin: string; room: string; secret: string } {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new UsageError("--link must be a room link https://HOST/r/ROOM#SECRET");
  }
  const m = /^\/r\/([A-Za-z0-9_-]{1,64})\/?$/.exec(url.pathname);
  const secret = url.hash.replace(/^#/, "");
  if (!m || secret === "")
    throw new UsageError("--link must be a room link https://HOST/r/ROOM#SECRET (the secret after # is missing)");
  return { origin: url.origin, room: m[1], secret };
}

export function parseClientArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ClientConfig | "help" {
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
    link: { type: "string" },
    secret: { type: "string" },
    "new-link": { type: "boolean" },
    web: { type: "string" },
  });
  if (values.help) return "help";
  if (values.name === undefined) throw new UsageError("--name is required");
  const name = canonicalName(values.name);
  const problem = nameProblem(name);
  if (problem) throw new UsageError(`--name: ${problem}`);
  if (values.room !== undefined && !isRoom(values.room))
    throw new UsageError("--room must be 1 to 64 characters of A-Z a-z 0-9 _ -");
  const cores = parseCoreList(values.core ?? DEFAULT_CORE, "--core").map((c) => ({ ...c, text: hostPortText(c) }));
  const core = { host: cores[0].host, port: cores[0].port };
  const link = values.link !== undefined ? splitRoomLink(values.link) : null;
  if (link && values.room !== undefined && values.room !== link.room)
    throw new UsageError("--room and --link name different rooms");
  if (link && values.secret !== undefined) throw new UsageError("--secret and --link: give one of them");
  if (values.secret !== undefined && values.room === undefined)
    throw new UsageError("--secret needs --room (or use --link)");
  if (values["new-link"] && (link || values.room !== undefined || values.secret !== undefined))
    throw new UsageError("--new-link makes a new room: no --room, --link or --secret with it");
  if (values.web !== undefined && !/^https?:\/\/[^/#?]+\/?$/.test(values.web))
    throw new UsageError("--web must be an origin like https://host:7780");
  if (values.pin !== undefined && normalizeFingerprint(values.pin) === null) {
    throw new UsageError("--pin must be a SHA-256 fingerprint (64 hex digits, colons allowed)");
  }
  return {
    name,
    room: link?.room ?? values.room ?? null,
    core,
    coreText: cores[0].text,
    cores,
    identityFile: values.identity ?? defaultIdentityPath(name, env),
    tls: values.tls === true || values.pin !== undefined,
    pin: values.pin ?? null,
    json: values.json ?? false,
    script: values.script ?? null,
    record: values.record ?? null,
    secret: link?.secret ?? values.secret ?? (values["new-link"] ? "new" : null),
    webOrigin: (
      values.web ??
      link?.origin ??
      `http://${core.host.includes(":") ? `[${core.host}]` : core.host}:7780`
    ).replace(/\/+$/, ""),
  };
}

function hostPortText(c: { host: string; port: number }): string {
  return `${c.host.includes(":") ? `[${c.host}]` : c.host}:${c.port}`;
}

// Flag parsing on node:util's parseArgs, with one-line errors and --help.

import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseFlags<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
}

export function parsePort(value: string | undefined, fallback: number, flag = "--port"): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new UsageError(`${flag} must be a port number 0-65535, got '${value}'`);
  return Number(value);
}

/** HOST:PORT, with [v6]:PORT accepted. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`${flag} must be HOST:PORT, got '${value}'`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

/** HOST:PORT[,HOST:PORT...]: a cluster's cores (`--core A:7700,B:7700`), each once, at most 64. */
export function parseCoreList(value: string, flag: string): { host: string; port: number }[] {
  const parts = value.split(",").map((p) => p.trim());
  if (parts.length > 64) throw new UsageError(`${flag} takes at most 64 cores, got ${parts.length}`);
  const out = parts.map((p) => {
    if (p === "") throw new UsageError(`${flag} must be HOST:PORT or a comma-separated list of them, got '${value}'`);
    return parseHostPort(p, flag);
  });
  const seen = new Set<string>();
  for (const c of out) {
    const k = `${c.host.toLowerCase()}:${c.port}`;
    if (seen.has(k)) throw new UsageError(`${flag} lists ${c.host}:${c.port} twice`);
    seen.add(k);
  }
  return out;
}

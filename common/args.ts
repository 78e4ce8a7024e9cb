// Flag parsing on node:util's parseArgs, with one-line errors and --help.

import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseFlags<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]);
  }
}

export function parsePort(value: string | undefined, fallback: number, flag = "--port"): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag} must be a port number 0-65535, got '${value}'`);
  return Number(value);
}

/** HOST:PORT, with [v6]:PORT accepted. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`${flag} must be HOST:PORT, got '${value}'`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

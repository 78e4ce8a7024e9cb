// Structured logs: one JSON line per event on stderr (pino). Ciphertext and
// keys are never logged; at debug level sizes and ids are.

import { pino } from "pino";

/**
 * The one logger type of the core, the bridge and the video pipeline: the
 * part of pino's API they use (a pino logger satisfies it; tests pass one
 * that records, see tests/helpers/log.ts).
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export function createLogger(level: LogLevel = "info", name = "sealroom"): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: false }));
}

export const silentLogger: Logger = pino({ level: "silent" });

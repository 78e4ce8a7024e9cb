// Structured logs: one JSON line per event on stderr (pino). Ciphertext and
// keys are never logged; at debug level sizes and ids are.

import { pino } from "pino";

export type Logger = Pick<pino.Logger, "debug" | "info" | "warn" | "error" | "child">;

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export function createLogger(level: LogLevel = "info", name = "sealroom"): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: false }));
}

export const silentLogger: Logger = pino({ level: "silent" });

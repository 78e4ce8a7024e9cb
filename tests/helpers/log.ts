// A logger that keeps what it is told, for asserting on warnings.

import type { Logger } from "../../server/log";

export interface LogLine {
  level: "error" | "warn" | "info" | "debug";
  obj: object;
  msg: string;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    error: (obj, msg) => lines.push({ level: "error", obj, msg }),
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    info: (obj, msg) => lines.push({ level: "info", obj, msg }),
    debug: (obj, msg) => lines.push({ level: "debug", obj, msg }),
  };
}

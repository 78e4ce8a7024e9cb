// What the figures were measured on: printed at the start and stored in the results.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { ROOT } from "./procs";

export interface Machine {
  cpuModel: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  loadAvgAtStart: number[];
  packages: Record<string, string>;
  ffmpeg: string;
  websockify: string | null;
  gitCommit: string;
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, "utf8")) as { version: string })
      .version;
  } catch {
    return "missing";
  }
}

export function describeMachine(ffmpegVersion: string, websockify: string | null): Machine {
  let git = "";
  try {
    git = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
  } catch {
    git = "unknown";
  }
  return {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    packages: Object.fromEntries(
      ["ws", "zod", "pino", "tsx", "node-forge", "@ffmpeg-installer/ffmpeg"].map((p) => [p, pkgVersion(p)]),
    ),
    ffmpeg: ffmpegVersion,
    websockify,
    gitCommit: git,
  };
}

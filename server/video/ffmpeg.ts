// Finds working ffmpeg/ffprobe binaries. Several sources exist because the
// packaged binaries are optional or can be broken by `npm ci --ignore-scripts`;
// an operator can always point at a system binary with FFMPEG_PATH/FFPROBE_PATH.

import { execFile } from "node:child_process";
import { chmod, stat } from "node:fs/promises";

export type Tool = "ffmpeg" | "ffprobe";

/** One place a binary may come from; `locate` returns null when the source is absent. */
export interface Candidate {
  source: string;
  locate(): Promise<string | null>;
}

const VERIFY_TIMEOUT_MS = 10_000;

/** Loads a package by a computed name so an absent optional dep is a runtime miss, not a type error. */
async function importPath(pkg: string, pick: (mod: unknown) => unknown): Promise<string | null> {
  let mod: unknown;
  try {
    mod = await import(pkg);
  } catch {
    return null;
  }
  const value = pick(mod);
  return typeof value === "string" && value.length > 0 ? value : null;
}

function defaultExport(mod: unknown): unknown {
  return typeof mod === "object" && mod !== null && "default" in mod ? mod.default : mod;
}

function pathField(mod: unknown): unknown {
  const d = defaultExport(mod);
  return typeof d === "object" && d !== null && "path" in d ? d.path : undefined;
}

function envCandidate(name: string): Candidate {
  return {
    source: `env ${name}`,
    locate: async () => process.env[name] || null,
  };
}

export function defaultCandidates(tool: Tool): Candidate[] {
  if (tool === "ffmpeg") {
    return [
      envCandidate("FFMPEG_PATH"),
      { source: "ffmpeg-static", locate: () => importPath("ffmpeg-static", defaultExport) },
      { source: "@ffmpeg-installer/ffmpeg", locate: () => importPath("@ffmpeg-installer/ffmpeg", pathField) },
    ];
  }
  return [
    envCandidate("FFPROBE_PATH"),
    { source: "@ffprobe-installer/ffprobe", locate: () => importPath("@ffprobe-installer/ffprobe", pathField) },
  ];
}

/** `npm ci --ignore-scripts` leaves the packaged ffprobe at 0644; fixing it is harmless when we may. */
async function ensureExecutable(path: string): Promise<void> {
  const st = await stat(path);
  if ((st.mode & 0o111) !== 0o111) {
    await chmod(path, st.mode | 0o111).catch(() => {
      // Not ours to change (read-only install): the -version check reports the real problem.
    });
  }
}

function runVersion(path: string, tool: Tool): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ["-hide_banner", "-version"], { timeout: VERIFY_TIMEOUT_MS }, (err, stdout) => {
      if (err) {
        reject(err);
        return;
      }
      const first = stdout.split("\n", 1)[0] ?? "";
      if (!first.startsWith(`${tool} version`)) {
        reject(new Error(`unexpected -version output: ${JSON.stringify(first.slice(0, 80))}`));
        return;
      }
      resolve(first);
    });
  });
}

export interface ResolvedTool {
  tool: Tool;
  path: string;
  source: string;
  version: string;
}

/** Tries candidates in order; the first that runs `-version` wins. */
export async function resolveTool(
  tool: Tool,
  candidates: Candidate[] = defaultCandidates(tool),
): Promise<ResolvedTool> {
  const failures: string[] = [];
  for (const c of candidates) {
    let path: string | null;
    try {
      path = await c.locate();
    } catch (err) {
      failures.push(`${c.source}: ${errorText(err)}`);
      continue;
    }
    if (path === null) {
      failures.push(`${c.source}: not set or not installed`);
      continue;
    }
    try {
      await ensureExecutable(path);
      const version = await runVersion(path, tool);
      return { tool, path, source: c.source, version };
    } catch (err) {
      failures.push(`${c.source} (${path}): ${errorText(err)}`);
    }
  }
  throw new Error(`no working ${tool} found; tried ${failures.join("; ")}`);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(String(code)) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

// Cached per process: resolution spawns a child, and the answer does not change while running.
const cache = new Map<Tool, Promise<ResolvedTool>>();

function cached(tool: Tool): Promise<ResolvedTool> {
  let p = cache.get(tool);
  if (!p) {
    p = resolveTool(tool);
    // A failure is not cached, so fixing the environment does not need a restart.
    p.catch(() => cache.delete(tool));
    cache.set(tool, p);
  }
  return p;
}

export async function ffmpegPath(): Promise<string> {
  return (await cached("ffmpeg")).path;
}

export async function ffprobePath(): Promise<string> {
  return (await cached("ffprobe")).path;
}

/** For logging at startup which binaries were chosen and why. */
export function describeTools(): Promise<ResolvedTool[]> {
  return Promise.all([cached("ffmpeg"), cached("ffprobe")]);
}

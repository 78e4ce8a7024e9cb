// Test clips, made once with scripts/make-sample.ts and kept in the OS temp
// dir between runs (a 720p clip takes a while to encode).

import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeClip } from "../../scripts/make-sample";

export const CLIP_DIR = join(tmpdir(), "sealroom-bench-clips");

export interface Clip {
  dir: string;
  id: string;
  path: string;
  width: number;
  height: number;
  fps: number;
  durationS: number;
}

export async function clip(width: number, height: number, durationS: number, fps = 30): Promise<Clip> {
  const dir = join(CLIP_DIR, `${width}x${height}-${durationS}s`);
  mkdirSync(dir, { recursive: true });
  const id = `bench-${height}p.mp4`;
  const path = join(dir, id);
  if (!existsSync(path)) await makeClip(path, { durationS, width, height, fps });
  return { dir, id, path, width, height, fps, durationS };
}

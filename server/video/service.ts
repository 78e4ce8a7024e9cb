// Assembles the video side of a core from a library directory.

import { AudioPacketCache } from "../audio/cache";
import { AudioProbeCache } from "../audio/probeCache";
import { Catalogue } from "./catalogue";
import { FrameCache, type FrameCacheOptions } from "./frames";
import { VIDEO_LIMITS } from "./limits";
import { StreamManager } from "./streams";
import type { Logger } from "./types";

export interface VideoServiceOptions extends Omit<FrameCacheOptions, "logger"> {
  dir: string;
  log: Logger;
  maxStreams: number;
  statsMs?: number;
}

export function createVideoService(o: VideoServiceOptions): StreamManager {
  const { dir, log, maxStreams, statsMs, ...cache } = o;
  return new StreamManager({
    catalogue: new Catalogue({ dir, logger: log }),
    frames: new FrameCache({ ...cache, logger: log }),
    log,
    maxStreams,
    audio: { cache: new AudioPacketCache({ maxIdleBytes: o.limits?.audioCacheBytes ?? VIDEO_LIMITS.audioCacheBytes }), probes: new AudioProbeCache() },
    playoutDelayMs: o.limits?.playoutDelayMs ?? VIDEO_LIMITS.playoutDelayMs,
    ...(statsMs !== undefined ? { statsMs } : {}),
  });
}

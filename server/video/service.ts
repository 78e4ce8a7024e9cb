// Assembles the video side of a core from a library directory.

import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIMITS } from "../../protocol/limits";
import { LibraryService } from "../library/library-service";
import type { LibraryLimits } from "../library/limits";
import { AudioPacketCache } from "../audio/cache";
import { AudioProbeCache } from "../audio/probeCache";
import { Catalogue } from "./catalogue";
import { FrameCache, type FrameCacheOptions } from "./frames";
import { VIDEO_LIMITS } from "./limits";
import { StreamManager } from "./streamManager";
import type { Logger } from "../log";

export interface VideoServiceOptions extends Omit<FrameCacheOptions, "logger"> {
  dir: string;
  log: Logger;
  maxStreams: number;
  statsMs?: number;
  /** Subtitle, poster and watcher limits (server/library/limits.ts). */
  libraryLimits?: Partial<LibraryLimits>;
  /** The core's maxFrame, which bounds a subtitle page or a poster. */
  maxFrame?: number;
}

export function createVideoService(o: VideoServiceOptions): StreamManager {
  const { dir, log, maxStreams, statsMs, libraryLimits, maxFrame, ...cache } = o;
  const catalogue = new Catalogue({ dir, logger: log });
  const library = new LibraryService({
    catalogue,
    dir,
    cacheDir: cache.cacheDir ?? join(tmpdir(), "sealroom-cache"),
    logger: log,
    maxFrame: maxFrame ?? DEFAULT_LIMITS.maxFrame,
    ...(libraryLimits ? { limits: libraryLimits } : {}),
  });
  return new StreamManager({
    catalogue,
    library,
    ...(libraryLimits?.smallVideoWidth !== undefined ? { smallWidth: libraryLimits.smallVideoWidth } : {}),
    frames: new FrameCache({ ...cache, logger: log }),
    log,
    maxStreams,
    audio: {
      cache: new AudioPacketCache({
        maxIdleBytes: o.limits?.audioCacheBytes ?? VIDEO_LIMITS.audioCacheBytes,
        aheadSec: o.limits?.decodeAheadSec ?? VIDEO_LIMITS.decodeAheadSec,
        behindSec: o.limits?.audioBehindSec ?? VIDEO_LIMITS.audioBehindSec,
      }),
      probes: new AudioProbeCache(),
      startWaitMs: o.limits?.soundStartWaitMs ?? VIDEO_LIMITS.soundStartWaitMs,
    },
    playoutDelayMs: o.limits?.playoutDelayMs ?? VIDEO_LIMITS.playoutDelayMs,
    ...(statsMs !== undefined ? { statsMs } : {}),
  });
}

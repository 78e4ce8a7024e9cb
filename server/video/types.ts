// Shared shapes of the video pipeline. Kept free of Node imports so the stream
// manager and tests can depend on them without pulling in child_process.

export interface Size {
  width: number;
  height: number;
}

/** What a probe learns about a file's first video stream. */
export interface MediaInfo extends Size {
  durationMs: number;
  /** Frames per second, rounded to 2 decimals (29.97, 30, 23.98). */
  fps: number;
}

/** One catalogue entry, exactly the shape of protocol section 5 `videos.items`. */
export interface VideoInfo extends MediaInfo {
  id: string;
  title: string;
  bytes: number;
}

/** One decoded frame: a baseline JPEG and its time from the start of the video. */
export interface VideoFrame {
  index: number;
  ptsMs: number;
  jpeg: Buffer;
}

// The frames of a stream at the small size cap "smallVideo" viewers ask for
// (terminals draw at most a few hundred pixels across): a second DecodedVideo
// of the same file at the same frame rate, so frame indices match the stream's
// and the pacer of the stream drives both. Decoded once per (video, size) like
// every other variant, shared by every small viewer of the stream.

import { outputSize, type DecodedVideo, type FrameCache, type VideoReader } from "./frames";
import type { VideoFrame } from "./types";

/** LIBRARY_DEFAULTS.smallVideoWidth; the frames' height follows the aspect ratio. */
export const SMALL_VIDEO_WIDTH = 256;

export interface SmallSource {
  path: string;
  key: string;
  info: { width: number; height: number; fps: number };
}

export class SmallVariant {
  private readonly decoded: DecodedVideo;
  private readonly reader: VideoReader;
  private closed = false;

  constructor(
    private readonly frames: FrameCache,
    source: SmallSource,
    width: number,
    owner: string,
  ) {
    this.decoded = frames.open(source.path, source.key, outputSize(source.info, width), source.info.fps);
    this.reader = this.decoded.reader(owner);
  }

  get width(): number {
    return this.decoded.width;
  }

  /** The frame at `index` if it is decoded; asking moves this variant's decoder along with the stream. */
  frame(index: number): VideoFrame | null {
    if (this.closed) return null;
    return this.reader.get(index) ?? null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
    this.frames.release(this.decoded);
  }
}

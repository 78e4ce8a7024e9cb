// The video pipeline's public surface, for the stream manager and the CLI.
// Typical use: catalogue.resolve(id) -> frameCache.openVideo(resolved) ->
// one Pacer per stream whose onFrame fans frames out -> frameCache.release().

export { Catalogue, VIDEO_EXTENSIONS, isPlausibleId, titleFromId } from "./catalogue";
export type { CatalogueOptions, ResolvedVideo } from "./catalogue";
export { describeTools, ffmpegPath, ffprobePath } from "./ffmpeg";
export type { ResolvedTool } from "./ffmpeg";
export { DecodedVideo, FrameCache, outputSize } from "./frames";
export type { FrameCacheOptions, FrameCacheStats } from "./frames";
export { JpegSplitter, readJpegInfo } from "./jpeg";
export type { JpegInfo } from "./jpeg";
export { Pacer, realClock } from "./pacer";
export type { Clock, EndReason, FrameSource, PacerOptions, PacerState, PacerStats } from "./pacer";
export { probeVideo } from "./probe";
export type { ProbeFailureReason, ProbeResult } from "./probe";
export { silentLogger } from "./types";
export type { Frame, Logger, MediaInfo, Size, VideoInfo } from "./types";

// V8 flags for Sealroom's long-running processes. A 4 MiB young generation
// (V8's default grows to 16 MiB) keeps the core's memory per idle member low:
// measured with bench/idle-memory.ts, 41 KiB -> about 3 KiB per member at
// 1,000 members, with no measurable CPU cost for video fan-out
// (bench/serve-cost.ts). bin/sealroom's shebang carries the same flag.
export const SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

// Line input for the terminal client: lines from the terminal, stdin or
// --script, handled one at a time and in order (a command may wait on the
// session), with a bounded read-ahead so a huge script does not pile up in
// memory.

/** What readline.Interface offers (the port, so tests can feed lines without a stream). */
export interface LineSource {
  on(event: "line", listener: (line: string) => void): unknown;
  on(event: "close", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Lines read ahead of the one being handled before input is paused. */
export const MAX_QUEUED_LINES = 1_000;

export type LinesEnd = "quit" | "end" | "stopped";

export interface LineOptions {
  /** Nothing is handled before this resolves (the session's first welcome). */
  ready: Promise<void>;
  /** Handles one line; "quit" ends the input. */
  handle: (line: string) => Promise<"quit" | undefined>;
  /** True once the run is over for another reason: no further line is handled. */
  stopped: () => boolean;
  maxQueued?: number;
}

/**
 * Starts reading at once, handles lines after `ready`. Resolves "quit" after
 * a line asked to leave, "end" at end of input once every line was handled,
 * "stopped" when `stopped()` turned true first.
 */
export function handleLines(input: LineSource, o: LineOptions): Promise<LinesEnd> {
  const max = o.maxQueued ?? MAX_QUEUED_LINES;
  const lines: string[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };
  input.on("line", (l) => {
    lines.push(l);
    if (lines.length >= max) input.pause();
    poke();
  });
  input.on("close", () => {
    ended = true;
    poke();
  });
  return (async (): Promise<LinesEnd> => {
    await o.ready;
    for (;;) {
      if (o.stopped()) return "stopped";
      const l = lines.shift();
      if (l !== undefined) {
        if (lines.length < max / 2) input.resume();
        if ((await o.handle(l)) === "quit") return "quit";
        continue;
      }
      if (ended) return "end";
      await new Promise<void>((r) => (wake = r));
    }
  })();
}

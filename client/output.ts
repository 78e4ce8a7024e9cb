// Where events go: one JSON line each (--json), plain lines (pipes, scripts),
// or an interactive terminal whose prompt line survives incoming output.

import readline from "node:readline";
import type { Readable, Writable } from "node:stream";

export type EventJson = { event: string } & Record<string, unknown>;

export interface Output {
  /** `json` for --json; `human` (null: nothing worth a line) otherwise. */
  event(json: EventJson, human: string | null): void;
  /** A live status (video position, fps); null clears it. */
  status(text: string | null): void;
  close(): void;
}

export class JsonOutput implements Output {
  constructor(private readonly out: Writable) {}
  event(json: EventJson): void {
    this.out.write(JSON.stringify(json) + "\n");
  }
  status(): void {}
  close(): void {}
}

export class PlainOutput implements Output {
  constructor(private readonly out: Writable) {}
  event(_json: EventJson, human: string | null): void {
    if (human !== null) this.out.write(human + "\n");
  }
  status(): void {}
  close(): void {}
}

/** The chat screen's side of watching: stop drawing chat and take keys, then give both back. */
export interface ChatScreen {
  /** Chat lines are held (bounded) and every key goes to `onKey` until resume(). */
  suspend(onKey: () => void): void;
  /** Prints the held lines and gives keys back to the prompt. */
  resume(): void;
  /** Lines held since suspend(). */
  readonly heldCount: number;
}

/** Lines held while the terminal watches; older ones are counted, not kept. */
export const MAX_HELD_LINES = 500;

type KeypressListener = (...args: unknown[]) => void;

/** Interactive: a readline prompt; the status rides in the prompt so it never scrolls away. */
export class TerminalUi implements Output, ChatScreen {
  readonly rl: readline.Interface;
  private statusText: string | null = null;
  private closed = false;
  private held: string[] | null = null;
  private heldDropped = 0;
  private promptKeys: KeypressListener[] = [];
  private onKey: (() => void) | null = null;

  constructor(
    input: Readable,
    private readonly out: NodeJS.WriteStream,
    private readonly basePrompt = "> ",
  ) {
    this.rl = readline.createInterface({ input, output: out, terminal: true, historySize: 200 });
    this.rl.setPrompt(basePrompt);
    this.rl.prompt();
  }

  event(_json: EventJson, human: string | null): void {
    if (human === null || this.closed) return;
    if (this.held) {
      this.held.push(human);
      if (this.held.length > MAX_HELD_LINES) {
        this.held.shift();
        this.heldDropped++;
      }
      return;
    }
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.out.write(human + "\n");
    this.rl.prompt(true);
  }

  /** Lines held since suspend(). */
  get heldCount(): number {
    return (this.held?.length ?? 0) + this.heldDropped;
  }

  suspend(onKey: () => void): void {
    if (this.closed || this.held) return;
    this.held = [];
    this.heldDropped = 0;
    // readline draws every key it gets; while watching, keys are ours alone.
    const input = this.rl.terminal ? (this.rl as unknown as { input: NodeJS.ReadStream }).input : null;
    if (input) {
      this.promptKeys = input.listeners("keypress") as KeypressListener[];
      input.removeAllListeners("keypress");
      this.onKey = onKey;
      input.on("keypress", this.keyListener);
    }
  }

  resume(): void {
    if (!this.held) return;
    const lines = this.held;
    const dropped = this.heldDropped;
    this.held = null;
    this.heldDropped = 0;
    const input = (this.rl as unknown as { input: NodeJS.ReadStream }).input;
    input.off("keypress", this.keyListener);
    for (const l of this.promptKeys) input.on("keypress", l);
    this.promptKeys = [];
    this.onKey = null;
    if (this.closed) return;
    if (dropped > 0)
      this.event({ event: "held" }, `* (${dropped} earlier line(s) from while you watched are not shown)`);
    for (const l of lines) this.event({ event: "held" }, l);
    this.rl.setPrompt(this.statusText ? `[${this.statusText}] ${this.basePrompt}` : this.basePrompt);
    this.rl.prompt(true);
  }

  private readonly keyListener = (): void => this.onKey?.();

  status(text: string | null): void {
    if (this.closed || text === this.statusText) return;
    this.statusText = text;
    if (this.held) return;
    this.rl.setPrompt(text ? `[${text}] ${this.basePrompt}` : this.basePrompt);
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.rl.prompt(true);
  }

  close(): void {
    if (this.closed) return;
    if (this.held) this.resume();
    this.closed = true;
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.rl.close();
  }
}

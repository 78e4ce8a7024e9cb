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

/** Interactive: a readline prompt; the status rides in the prompt so it never scrolls away. */
export class TerminalUi implements Output {
  readonly rl: readline.Interface;
  private statusText: string | null = null;
  private closed = false;

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
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.out.write(human + "\n");
    this.rl.prompt(true);
  }

  status(text: string | null): void {
    if (this.closed || text === this.statusText) return;
    this.statusText = text;
    this.rl.setPrompt(text ? `[${text}] ${this.basePrompt}` : this.basePrompt);
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.rl.prompt(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    readline.clearLine(this.out, 0);
    readline.cursorTo(this.out, 0);
    this.rl.close();
  }
}

// Caps how many child processes (ffmpeg for posters and subtitle extraction)
// run at once, so a cold library of 500 files does not fork 500 decoders on a
// two-core machine. Waiters are served in arrival order.

export class JobLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Jobs started since creation: lets tests see that a cache hit started nothing. */
  started = 0;

  constructor(readonly max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new Error(`job limit must be a positive integer, got ${max}`);
  }

  get active(): number {
    return this.running;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    this.started++;
    try {
      return await job();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

// When the terminal client gives up, and with which exit code (README's
// table, common/exit.ts) and one-line message. Pure: fed the session's
// events by main.ts, which does the exiting.

import { EXIT } from "../common/exit";
import type { SessionEvents } from "../protocol/session";
import { IdentityFileError } from "./identityFile";

/** Connection attempts before the first welcome after which the core counts as unreachable. */
export const FIRST_CONNECT_ATTEMPTS = 3;

export interface Exit {
  code: number;
  /** For stderr, after "sealroom client: ". */
  message?: string;
}

export class ExitPolicy {
  private failedAttempts = 0;
  private lastFatal: { code: string; message: string } | null = null;

  /** `core`: "host:port", for the unreachable message. */
  constructor(
    private readonly core: string,
    private readonly firstConnectAttempts = FIRST_CONNECT_ATTEMPTS,
  ) {}

  /** Remembers a fatal error: if the core then cannot be reached, that error is the reason. */
  error(e: SessionEvents["error"]): void {
    if (e.fatal) this.lastFatal = e;
  }

  /** Before ever being online, the third failed attempt ends the run; once online, reconnecting goes on. */
  disconnected(d: SessionEvents["disconnected"]): Exit | null {
    if (d.everOnline) return null;
    if (++this.failedAttempts < this.firstConnectAttempts) return null;
    if (this.lastFatal) return fatal(this.lastFatal);
    return {
      code: EXIT.unavailable,
      message: `core unreachable at ${this.core} after ${this.failedAttempts} attempts (${d.reason})`,
    };
  }

  /** The session ended for good without us leaving: always a failure. */
  closed(c: SessionEvents["closed"]): Exit {
    if (c.error) return fatal(c.error);
    return { code: EXIT.failure, message: `session closed: ${c.reason}` };
  }

  /** A certificate problem ends the run at once: retrying cannot fix it. */
  untrusted(message: string): Exit {
    return { code: EXIT.untrusted, message };
  }

  /** /quit, end of input, or a signal. */
  left(): Exit {
    return { code: EXIT.ok };
  }
}

function fatal(e: { code: string; message: string }): Exit {
  return { code: EXIT.failure, message: `fatal error ${e.code}: ${e.message}` };
}

/** The identity file could not be read or created: 73 for a file problem, 1 for anything else. */
export function identityExit(e: unknown): Exit {
  const fileProblem = e instanceof IdentityFileError || Boolean((e as NodeJS.ErrnoException | null)?.code);
  return { code: fileProblem ? EXIT.cantCreate : EXIT.failure, message: (e as Error | null)?.message ?? String(e) };
}

/** A file or directory named by a flag (--script, --record) cannot be used. */
export function fileExit(message: string): Exit {
  return { code: EXIT.cantCreate, message };
}

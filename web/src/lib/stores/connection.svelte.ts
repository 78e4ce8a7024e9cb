// The connection as people see it: the phase for the badge and the banner,
// why it is down and when it retries, whether this tab ever got in, and what
// ended the session for good.

import type { ClientSession } from "../../../../protocol/session";

export type Phase = "connecting" | "online" | "reconnecting" | "closed";

/** The part of the session this store listens to. */
export type ConnectionSession = Pick<ClientSession, "on">;

export class ConnectionStore {
  phase = $state<Phase>("connecting");
  /** Why the session is down or over, for the banner. */
  statusDetail = $state<string>("");
  retryAt = $state<number | null>(null);
  everOnline = $state(false);
  /** Set when the session ended for good; code from the server when there was one. */
  closedBy = $state<{ code: string | null; message: string } | null>(null);

  constructor(session: ConnectionSession) {
    session.on("state", (st) => {
      this.phase = st;
      if (st === "online") {
        this.statusDetail = "";
        this.retryAt = null;
      }
    });
    session.on("welcome", () => {
      // Timing marks (DevTools / tests): from navigation or join click to being in.
      if (!this.everOnline) performance.mark("sealroom:welcome");
      this.everOnline = true;
    });
    session.on("disconnected", ({ reason, retryInMs }) => {
      this.statusDetail = reason;
      this.retryAt = retryInMs === null ? null : Date.now() + retryInMs;
    });
    session.on("closed", ({ reason, error }) => {
      this.closedBy = { code: error?.code ?? null, message: error?.message ?? reason };
    });
  }
}

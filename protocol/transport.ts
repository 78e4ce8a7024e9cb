// The port a client session talks through: one connection to the core that
// moves frames (kind + body, without the length prefix). The native client
// implements it over TCP/TLS (client/tcp.ts), the web app over a WebSocket to
// the bridge (web/src/lib/transport.ts), unit tests in memory.

/** One connection to the core: frames without the length prefix. */
export interface Transport {
  send(kind: number, body: Uint8Array): void;
  /** Ends the connection; the session ignores any onClose that follows. */
  close(): void;
}

export interface TransportHandlers {
  onOpen(): void;
  onFrame(kind: number, body: Uint8Array): void;
  onClose(reason: string): void;
}

/** Opens a connection (TCP/TLS in Node, WebSocket in a browser). */
export type Connector = (handlers: TransportHandlers) => Transport;

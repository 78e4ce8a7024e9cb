// The browser end of the bridge: one binary WebSocket message is one protocol
// frame without its length prefix (kind byte + body), docs/protocol.md section 1.
// The session above decides what to send and when to reconnect; this only
// moves frames and reports the close once.

import type { Connector } from "../../../protocol/transport";

/** ws(s)://<this host>/ws: the bridge that served the page is the only target. */
export function bridgeUrl(loc: Pick<Location, "protocol" | "host"> = location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}

/**
 * `Impl` is the browser's WebSocket; tests in Node pass the `ws` package's,
 * which has the same interface, so they drive this very code.
 */
export function webSocketConnector(url: string = bridgeUrl(), Impl: typeof WebSocket = WebSocket): Connector {
  return (handlers) => {
    const ws = new Impl(url);
    ws.binaryType = "arraybuffer";
    let closed = false;

    const finish = (reason: string) => {
      if (closed) return;
      closed = true;
      handlers.onClose(reason);
    };

    ws.onopen = () => {
      if (!closed) handlers.onOpen();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (closed) return;
      // The bridge sends binary only; anything else is not ours to interpret.
      if (!(ev.data instanceof ArrayBuffer) || ev.data.byteLength < 1) {
        ws.close(1003, "expected a binary frame");
        finish("bridge sent a non-binary message");
        return;
      }
      const bytes = new Uint8Array(ev.data);
      handlers.onFrame(bytes[0], bytes.subarray(1));
    };
    ws.onclose = (ev: CloseEvent) => {
      finish(closeReason(ev));
    };
    // An error is always followed by close; the close carries what we report.
    ws.onerror = () => {};

    return {
      send(kind: number, body: Uint8Array) {
        if (closed || ws.readyState !== ws.OPEN) return;
        const msg = new Uint8Array(1 + body.length);
        msg[0] = kind;
        msg.set(body, 1);
        ws.send(msg);
      },
      close() {
        if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) ws.close(1000, "bye");
        finish("closed by client");
      },
    };
  };
}

function closeReason(ev: CloseEvent): string {
  switch (ev.code) {
    case 1000:
      return ev.reason || "connection closed";
    case 1003:
      return "bridge refused a message";
    case 1006:
      return "connection lost";
    case 1009:
      return "message too large";
    case 1011:
      return "server unreachable";
    default:
      return ev.reason ? `${ev.reason} (${ev.code})` : `connection closed (${ev.code})`;
  }
}

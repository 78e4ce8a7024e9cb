// Unit tests of protocol/receiveQueue.ts: everything received is handled in
// arrival order, one item at a time, even when handling a control message
// takes a while (crypto); video is shed past its bound, control past its own.

import { describe, expect, it } from "vitest";
import { encodeJson } from "../../protocol/codec";
import { KIND_CONTROL, KIND_VIDEO } from "../../protocol/framing";
import type { ServerMessage } from "../../protocol/messages";
import { ReceiveQueue, type ReceiveHandlers } from "../../protocol/receiveQueue";

/** A gate the test opens: a message handler that awaits it stands for slow crypto. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

function harness(limits = { maxDepth: 100, maxVideoDepth: 4 }) {
  const order: string[] = [];
  const invalid: string[] = [];
  const overflows: string[] = [];
  const logs: string[] = [];
  /** Per message type: a gate its handler awaits before recording. */
  const gates = new Map<string, Promise<void>>();
  const handlers: ReceiveHandlers<string> = {
    message: async (ctx, msg: ServerMessage) => {
      const g = gates.get(msg.t);
      if (g) await g;
      if (msg.t === "error" && msg.code === "internal") throw new Error("handler broke");
      order.push(`${ctx}:${msg.t}`);
    },
    video: (body) => order.push(`video ${body[0]}`),
    invalid: (reason) => invalid.push(reason),
    overflow: (ctx) => overflows.push(ctx),
    log: (_level, message) => logs.push(message),
  };
  const q = new ReceiveQueue<string>(handlers, limits);
  return { q, order, invalid, overflows, logs, gates };
}

const ping = (ts: number) => encodeJson({ t: "ping", ts });
const video = (n: number) => new Uint8Array([n, 0, 0]);

describe("ReceiveQueue", () => {
  it("handles control messages in arrival order even when an earlier one is slow", async () => {
    const { q, order, gates } = harness();
    const slow = gate();
    gates.set("pong", slow.wait);
    q.frame("c1", KIND_CONTROL, encodeJson({ t: "pong", ts: 1 }));
    q.frame("c1", KIND_CONTROL, ping(2));
    q.frame("c2", KIND_CONTROL, encodeJson({ t: "videos", items: [] }));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    expect(q.depth).toBe(3);
    slow.open();
    await q.idle();
    expect(order).toEqual(["c1:pong", "c1:ping", "c2:videos"]);
    expect(q.depth).toBe(0);
  });

  it("hands video straight on when nothing waits, and keeps it behind queued control otherwise", async () => {
    const { q, order, gates } = harness();
    q.frame("c1", KIND_VIDEO, video(1));
    expect(order).toEqual(["video 1"]);
    const slow = gate();
    gates.set("ping", slow.wait);
    q.frame("c1", KIND_CONTROL, ping(1));
    q.frame("c1", KIND_VIDEO, video(2));
    q.frame("c1", KIND_CONTROL, encodeJson({ t: "pong", ts: 2 }));
    expect(order).toEqual(["video 1"]);
    slow.open();
    await q.idle();
    expect(order).toEqual(["video 1", "c1:ping", "video 2", "c1:pong"]);
  });

  it("copies a queued video chunk, so the transport may reuse its buffer", async () => {
    const { q, order, gates } = harness();
    const slow = gate();
    gates.set("ping", slow.wait);
    q.frame("c1", KIND_CONTROL, ping(1));
    const buf = video(7);
    q.frame("c1", KIND_VIDEO, buf);
    buf[0] = 99;
    slow.open();
    await q.idle();
    expect(order).toEqual(["c1:ping", "video 7"]);
  });

  it("sheds video while the queue is at its video bound, and takes it again once it drains", async () => {
    const { q, order, gates } = harness({ maxDepth: 100, maxVideoDepth: 4 });
    const slow = gate();
    gates.set("ping", slow.wait);
    q.frame("c1", KIND_CONTROL, ping(1));
    for (let i = 1; i <= 10; i++) q.frame("c1", KIND_VIDEO, video(i));
    expect(q.depth).toBe(4);
    slow.open();
    await q.idle();
    expect(order).toEqual(["c1:ping", "video 1", "video 2", "video 3"]);
    q.frame("c1", KIND_VIDEO, video(11));
    expect(order.at(-1)).toBe("video 11");
  });

  it("reports overflow instead of queueing control past maxDepth, and keeps what it queued", async () => {
    const { q, order, overflows, gates } = harness({ maxDepth: 3, maxVideoDepth: 2 });
    const slow = gate();
    gates.set("ping", slow.wait);
    for (let i = 0; i < 5; i++) q.frame(`c${i}`, KIND_CONTROL, ping(i));
    expect(overflows).toEqual(["c3", "c4"]);
    slow.open();
    await q.idle();
    expect(order).toEqual(["c0:ping", "c1:ping", "c2:ping"]);
  });

  it("reports malformed frames at once, ignores unknown types, and never queues either", async () => {
    const { q, order, invalid, logs } = harness();
    q.frame("c1", KIND_CONTROL, new TextEncoder().encode("{not json"));
    q.frame("c1", KIND_CONTROL, encodeJson({ t: "joined", member: { id: "short" } }));
    q.frame("c1", 7, new Uint8Array([1]));
    q.frame("c1", KIND_CONTROL, encodeJson({ t: "fromTheFuture", x: 1 }));
    expect(invalid).toHaveLength(3);
    expect(invalid[2]).toBe("frame of unknown kind 7");
    expect(logs).toEqual(["ignoring unknown message type fromTheFuture"]);
    expect(q.depth).toBe(0);
    await q.idle();
    expect(order).toEqual([]);
  });

  it("a handler that throws is logged and the queue goes on", async () => {
    const { q, order, logs } = harness();
    q.frame("c1", KIND_CONTROL, encodeJson({ t: "error", code: "internal", message: "x", fatal: true }));
    q.frame("c1", KIND_CONTROL, ping(1));
    await q.idle();
    expect(order).toEqual(["c1:ping"]);
    expect(logs).toEqual(["handling a message failed: Error: handler broke"]);
  });

  it("enqueue() runs behind what is already queued (a close behind the frames before it)", async () => {
    const { q, order, gates } = harness();
    const slow = gate();
    gates.set("ping", slow.wait);
    q.frame("c1", KIND_CONTROL, ping(1));
    q.enqueue(() => void order.push("closed"));
    slow.open();
    await q.idle();
    expect(order).toEqual(["c1:ping", "closed"]);
  });
});

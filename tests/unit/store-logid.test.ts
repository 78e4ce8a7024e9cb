// The resume rule for the room log id (server/delivery.ts, docs/protocol.md
// section 2c) over the memory store, with a plain-object peer: a resumeLog that
// names another log is answered from this log's start (a history gap first when
// retention dropped its head), never by seq; the matching one, or none (an
// older client), resumes by seq; `resumed` carries the log id.

import { describe, expect, it } from "vitest";
import type { Cap } from "../../protocol/caps";
import { FRAME_HEADER } from "../../protocol/framing";
import type { ServerMessage } from "../../protocol/messages";
import { Durable } from "../../server/delivery";
import { silentLogger } from "../../server/log";
import type { MemberPeer, VideoFrameOut } from "../../server/ports";
import { MemoryStore } from "../../server/store/memoryStore";

const A = "alice".padEnd(22, "x");
const B = "bob".padEnd(22, "x");
const ROOM = "r";
const OTHER_LOG = "ZZZZZZZZZZZZZZZZZZZZZZ";
const env = JSON.stringify({ alg: "RSA-OAEP-256+A256GCM", iv: "AAAAAAAAAAAAAAAA", ct: "c".repeat(24), keys: {} });

class Peer implements MemberPeer {
  readonly connId = 1;
  readonly memberId = B;
  readonly room = ROOM;
  readonly caps: ReadonlySet<Cap> = new Set<Cap>(["durable"]);
  /** Controls and replayed msgs, in the order sent. */
  readonly got: ServerMessage[] = [];
  isClosed = false;
  sendControl(msg: ServerMessage): void {
    this.got.push(msg);
  }
  sendFrame(frame: Buffer): void {
    this.got.push(JSON.parse(frame.subarray(FRAME_HEADER).toString("utf8")) as ServerMessage);
  }
  offerVideo(_frame: VideoFrameOut): boolean {
    return true;
  }
  purgeVideo(): void {}
  chargeSend(): boolean {
    return true;
  }
  admit(): void {}
  fail(): void {}
  summary(): string[] {
    return this.got.map((m) =>
      m.t === "msg"
        ? `msg ${m.seq}`
        : m.t === "historyGap"
          ? `gap ${m.from}-${m.to}`
          : m.t === "error"
            ? `error ${m.code} ${m.ref}`
            : m.t === "resumed"
              ? `resumed ${m.seq}`
              : m.t,
    );
  }
}

async function setup(messages: number, retentionMessages = 100) {
  const store = new MemoryStore({ limits: { retentionMessages } });
  const durable = new Durable({
    store,
    log: silentLogger,
    now: Date.now,
    awayGraceMs: 60_000,
    resumeReceipts: 256,
    expired: () => {},
  });
  for (let i = 1; i <= messages; i++) await store.append(ROOM, { from: A, mid: `m${i}`, to: [B], env, at: Date.now() });
  return { store, durable, log: await store.logId(ROOM) };
}

describe("resume and the room log id", () => {
  it("another log id: a notice, then this log from its start, not by seq; resumed names this log", async () => {
    const { durable, log } = await setup(5);
    const p = new Peer();
    await durable.resume(p, { room: ROOM, seq: 3 }, log, OTHER_LOG);
    expect(p.summary()).toEqual(["error bad_request resume", "msg 1", "msg 2", "msg 3", "msg 4", "msg 5", "resumed 5"]);
    expect(p.got.at(-1)).toEqual({ t: "resumed", seq: 5, log });
    expect(p.got[0]).toMatchObject({ fatal: false, message: expect.stringMatching(/replaced/) });
  });

  it("another log id when retention dropped this log's head: the gap from 1 first", async () => {
    const { durable, log } = await setup(6, 3);
    const p = new Peer();
    await durable.resume(p, { room: ROOM, seq: 2 }, log, OTHER_LOG);
    expect(p.summary()).toEqual(["error bad_request resume", "gap 1-3", "msg 4", "msg 5", "msg 6", "resumed 6"]);
  });

  it("another log id with cursor 0: no notice (nothing could be missed), the whole log", async () => {
    const { durable, log } = await setup(2);
    const p = new Peer();
    await durable.resume(p, { room: ROOM, seq: 0 }, log, OTHER_LOG);
    expect(p.summary()).toEqual(["msg 1", "msg 2", "resumed 2"]);
  });

  it("the same log id, or none (an older client), resumes by seq; the log id is read when not given", async () => {
    const { durable, log } = await setup(5);
    const same = new Peer();
    await durable.resume(same, { room: ROOM, seq: 3 }, log, log);
    expect(same.summary()).toEqual(["msg 4", "msg 5", "resumed 5"]);
    const older = new Peer();
    await durable.resume(older, { room: ROOM, seq: 3 });
    expect(older.summary()).toEqual(["msg 4", "msg 5", "resumed 5"]);
    expect(older.got.at(-1)).toEqual({ t: "resumed", seq: 5, log });
    // a future cursor in the same log: refused as before (no replay)
    const future = new Peer();
    await durable.resume(future, { room: ROOM, seq: 9 }, log, log);
    expect(future.summary()).toEqual(["error bad_request resume", "resumed 5"]);
  });
});

// The room's KV records on JetStream: members, the room stream, the log id and the v2 verification key.

import { LOG_ID_RE } from "../../../protocol/messages";
import { effectiveAwayGraceMs } from "../../store/limits";
import {
  checkVk,
  memberRecordOf,
  newLogId,
  StoreError,
  type MemberRecord,
  type RoomStreamRecord,
} from "../../store/roomStore";
import { bucketName, dec, memberKey, roomToken } from "./layout";
import { scanKv } from "./kvScan";
import type { JsParts } from "./parts";

/** Input is checked, and errors mapped, by the facade (jetstreamStore.ts). */
export class RoomKv {
  /** Room -> its log id as read from (or made in) the logs bucket: it never changes there. */
  private logIds = new Map<string, string>();
  /** Room -> its v2 verification key as read from (or made in) the vks bucket: it never changes there. */
  private vks = new Map<string, string>();

  constructor(private readonly x: JsParts) {}

  // ---- log id and verification key: made once, by KV create, by whichever core comes first

  async logId(room: string): Promise<string> {
    const known = this.logIds.get(room);
    if (known !== undefined) return known;
    const kv = (await this.x.kv).logs;
    const key = roomToken(room);
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await kv.get(key);
      if (cur && cur.operation === "PUT") {
        const log = dec.decode(cur.value);
        if (!LOG_ID_RE.test(log)) throw new StoreError("corrupt", `the log id of room ${room} is not a log id`);
        this.logIds.set(room, log);
        return log;
      }
      try {
        const log = newLogId();
        await kv.create(key, log);
        this.logIds.set(room, log);
        return log;
      } catch {
        // another core made it at the same moment: read theirs
      }
    }
    throw new StoreError("store_failed", `the log id of room ${room} could not be read or made`);
  }

  async roomVk(room: string): Promise<string | null> {
    return this.vks.get(room) ?? (await this.readVk(room));
  }

  async createRoomVk(room: string, vk: string): Promise<string> {
    const known = this.vks.get(room);
    if (known !== undefined) return known;
    const kv = (await this.x.kv).vks;
    for (let attempt = 0; attempt < 20; attempt++) {
      const had = await this.readVk(room);
      if (had !== null) return had;
      try {
        await kv.create(roomToken(room), vk);
        this.vks.set(room, vk);
        return vk;
      } catch {
        // another core bound it at the same moment: read theirs
      }
    }
    throw new StoreError("store_failed", `the verification key of room ${room} could not be read or stored`);
  }

  private async readVk(room: string): Promise<string | null> {
    const cur = await (await this.x.kv).vks.get(roomToken(room));
    if (!cur || cur.operation !== "PUT") return null;
    const vk = dec.decode(cur.value);
    try {
      checkVk(room, vk);
    } catch {
      throw new StoreError("corrupt", `the verification key of room ${room} is not a verification key`);
    }
    this.vks.set(room, vk);
    return vk;
  }

  // ---- members -------------------------------------------------------------------

  /** Cluster only: one member's record (a member that came online on another core), or null. */
  async member(room: string, id: string): Promise<MemberRecord | null> {
    const g = await (await this.x.kv).members.get(memberKey(room, id));
    if (!g || g.operation !== "PUT") return null;
    // through memberRecordOf: a malformed v2 from another core is dropped (shown as not admitted), never relayed
    const m = memberRecordOf(JSON.parse(dec.decode(g.value)) as MemberRecord);
    return m.lastSeen >= this.x.now() - effectiveAwayGraceMs(this.x.limits) ? m : null;
  }

  async putMember(room: string, m: MemberRecord): Promise<void> {
    await (await this.x.kv).members.put(memberKey(room, m.id), JSON.stringify(memberRecordOf(m)));
  }

  async memberSeen(room: string, id: string, at: number): Promise<void> {
    const kv = (await this.x.kv).members;
    const key = memberKey(room, id);
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await kv.get(key);
      if (!cur || cur.operation !== "PUT") return;
      const m = JSON.parse(dec.decode(cur.value)) as MemberRecord;
      if (m.lastSeen >= at) return;
      m.lastSeen = at;
      try {
        await kv.update(key, JSON.stringify(m), cur.revision);
        return;
      } catch {
        // raced with another write of this member: read again
      }
    }
  }

  async memberLeft(room: string, id: string): Promise<void> {
    await (await this.x.kv).members.purge(memberKey(room, id));
  }

  async members(room: string): Promise<MemberRecord[]> {
    const since = this.x.now() - effectiveAwayGraceMs(this.x.limits);
    return (await this.allMembers(roomToken(room)))
      .filter((m) => m.lastSeen >= since)
      .sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1))
      .map(({ key: _key, ...m }) => memberRecordOf(m));
  }

  private async allMembers(token: string | "*"): Promise<(MemberRecord & { key: string })[]> {
    const out: (MemberRecord & { key: string })[] = [];
    // not kv.keys(): it can wait 30 s when a member record is written meanwhile (kvScan.ts)
    const got = await scanKv(this.x.js, await this.x.jsm, bucketName(this.x.namespace, "members"), `${token}.*`);
    for (const g of got.values()) out.push({ ...(JSON.parse(dec.decode(g.value)) as MemberRecord), key: g.key });
    return out;
  }

  /** Forgets the members of every room away longer than the grace period. */
  async sweepMembers(): Promise<void> {
    const since = this.x.now() - effectiveAwayGraceMs(this.x.limits);
    const kv = (await this.x.kv).members;
    for (const m of await this.allMembers("*")) if (m.lastSeen < since) await kv.purge(m.key);
  }

  // ---- the room stream ------------------------------------------------------------

  async setStream(room: string, s: RoomStreamRecord | null): Promise<void> {
    const kv = (await this.x.kv).streams;
    if (s === null) await kv.purge(roomToken(room));
    else
      await kv.put(
        roomToken(room),
        JSON.stringify({ sid: s.sid, video: s.video, by: s.by, state: s.state, posMs: s.posMs, atMs: s.atMs }),
      );
  }

  async stream(room: string): Promise<RoomStreamRecord | null> {
    const cur = await (await this.x.kv).streams.get(roomToken(room));
    return cur && cur.operation === "PUT" ? (JSON.parse(dec.decode(cur.value)) as RoomStreamRecord) : null;
  }
}

// CONTROL frame bodies <-> validated messages. Decoding is staged to match
// docs/protocol.md section 9: bytes -> JSON object with string `t` (else bad_json),
// then `t` -> schema (unknown `t`, or fields of the wrong shape).

import type { z } from "zod";
import { CLIENT_SCHEMAS, SERVER_SCHEMAS, type ClientMessage, type ServerMessage } from "./messages";

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export type RawMessage = { t: string; [k: string]: unknown };

/** What an error's `ref` names (docs/protocol.md section 9): the mid of a send, else the t. */
export function refOf(raw: RawMessage): string {
  return raw.t === "send" && typeof raw.mid === "string" ? raw.mid : raw.t;
}

export type RawResult = { ok: true; raw: RawMessage } | { ok: false; message: string };

export function decodeRaw(body: Uint8Array): RawResult {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, message: "body is not valid UTF-8" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: "body is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, message: "body is not a JSON object" };
  }
  const t = (value as { t?: unknown }).t;
  if (typeof t !== "string") return { ok: false, message: "field t missing or not a string" };
  return { ok: true, raw: value as RawMessage };
}

export type Parsed<M> =
  { kind: "ok"; msg: M } | { kind: "unknown"; t: string } | { kind: "invalid"; t: string; message: string };

function parseWith<M>(schemas: Record<string, z.ZodType>, raw: RawMessage): Parsed<M> {
  const schema = Object.hasOwn(schemas, raw.t) ? schemas[raw.t] : undefined;
  if (!schema) return { kind: "unknown", t: raw.t };
  const r = schema.safeParse(raw);
  if (r.success) return { kind: "ok", msg: r.data as M };
  const issue = r.error.issues[0];
  const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
  return { kind: "invalid", t: raw.t, message: `${raw.t}: ${where}${issue.message}` };
}

export function parseClientMessage(raw: RawMessage): Parsed<ClientMessage> {
  return parseWith<ClientMessage>(CLIENT_SCHEMAS, raw);
}

export function parseServerMessage(raw: RawMessage): Parsed<ServerMessage> {
  return parseWith<ServerMessage>(SERVER_SCHEMAS, raw);
}

export function encodeJson(msg: object): Uint8Array {
  return encoder.encode(JSON.stringify(msg));
}

export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

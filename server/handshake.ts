// Checks a `hello` against the challenge (docs/protocol.md section 2), in the order
// of section 9's table. Pure apart from signature verification; the room
// checks (name_taken, room_full) belong to the hub.

import { encKeySigString, helloProofString } from "../protocol/crypto";
import type { RawMessage } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import { Hello } from "../protocol/messages";
import { isRoom, nameProblem } from "../protocol/names";
import { PROTOCOL_VERSION } from "../protocol/limits";
import { verifyHelloV2, type HelloV2 } from "./admission";
import { memberIdOf, parseRsaSpki, verifyPss } from "./keys";

export interface VerifiedHello {
  hello: Hello;
  id: string;
  /** A v2 hello (v: 2) whose admission checked out. */
  v2?: HelloV2;
}

const fatal = (code: ConstructorParameters<typeof ProtocolError>[0], message: string) =>
  new ProtocolError(code, message, true, "hello");

export async function verifyHello(
  raw: RawMessage,
  nonce: string,
  opts: { admissionMaxAgeMs?: number } = {},
): Promise<VerifiedHello> {
  // A client of another version may shape its hello differently: judge v first.
  // v 2 is v 1 plus the fields of a v2 room (server/admission.ts).
  if (typeof raw.v === "number" && raw.v !== PROTOCOL_VERSION && raw.v !== 2) {
    throw fatal(
      "unsupported_version",
      `protocol version ${raw.v} is not supported (this server speaks ${PROTOCOL_VERSION})`,
    );
  }
  const parsed = Hello.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw fatal("bad_hello", `hello: ${i.path.join(".") || "message"}: ${i.message}`);
  }
  const hello = parsed.data;
  if (!isRoom(hello.room)) throw fatal("bad_room", "room must be 1 to 64 characters of A-Z a-z 0-9 _ -");
  const np = nameProblem(hello.name);
  if (np) throw fatal("bad_name", np);

  const encDer = Buffer.from(hello.encKey, "base64");
  const sigDer = Buffer.from(hello.sigKey, "base64");
  const enc = parseRsaSpki(encDer, "encKey");
  if (!enc.ok) throw fatal("bad_key", enc.message);
  const sig = parseRsaSpki(sigDer, "sigKey");
  if (!sig.ok) throw fatal("bad_key", sig.message);

  const [proofOk, encSigOk] = await Promise.all([
    verifyPss(
      sig.key,
      helloProofString(nonce, hello.room, hello.name, hello.encKey),
      Buffer.from(hello.proof, "base64"),
    ),
    verifyPss(sig.key, encKeySigString(hello.encKey), Buffer.from(hello.encKeySig, "base64")),
  ]);
  if (!proofOk) throw fatal("bad_proof", "proof does not verify with sigKey");
  if (!encSigOk) throw fatal("bad_proof", "encKeySig does not verify with sigKey");
  const id = memberIdOf(sigDer);
  if (hello.v === 2)
    return { hello, id, v2: await verifyHelloV2(raw, hello, id, nonce, opts.admissionMaxAgeMs ?? 600_000) };
  return { hello, id };
}

// The member's key pairs on disk, so the member id (hash of the signing key)
// is the same on every run. JSON of base64 PKCS#8 and SPKI, mode 0600; a file
// other users can read is refused, since whoever reads it can be this member.

import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { fromBase64, isBase64, toBase64 } from "../protocol/base64";
import {
  generateKeyPairs,
  identityFromKeyPairs,
  OAEP_ALG,
  PSS_ALG,
  type Identity,
  type KeyPairs,
} from "../protocol/crypto";
import { nameKey } from "../protocol/names";

const subtle = globalThis.crypto.subtle;

export class IdentityFileError extends Error {
  override name = "IdentityFileError";
}

const b64 = z.string().refine(isBase64, "not base64");
const Pair = z.object({ pkcs8: b64, spki: b64 });
const IdentityJson = z.object({ v: z.literal(1), enc: Pair, sig: Pair });
type IdentityJson = z.infer<typeof IdentityJson>;

/** $XDG_CONFIG_HOME/sealroom/identity-<name>.json, else ~/.config/sealroom/... */
export function defaultIdentityPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".config");
  // Names may hold spaces and any letter; encoding keeps the file name unique per name and portable.
  return path.join(base, "sealroom", `identity-${encodeURIComponent(nameKey(name))}.json`);
}

export async function loadOrCreateIdentity(file: string): Promise<{ identity: Identity; created: boolean }> {
  try {
    return { identity: await loadIdentity(file), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const pairs = await generateKeyPairs({ extractable: true });
  const json = await exportPairs(pairs);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite a key someone else just wrote; mode 0600 from the first byte.
    await fs.writeFile(file, JSON.stringify(json, null, 2) + "\n", { flag: "wx", mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return { identity: await loadIdentity(file), created: false };
    throw new IdentityFileError(`cannot write identity file ${file}: ${(e as Error).message}`);
  }
  return { identity: await loadIdentity(file), created: true };
}

/** Throws ENOENT errors as they are (the caller may create the file), IdentityFileError otherwise. */
export async function loadIdentity(file: string): Promise<Identity> {
  const st = await fs.stat(file);
  if (!st.isFile()) throw new IdentityFileError(`identity file ${file} is not a regular file`);
  const mode = st.mode & 0o777;
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    throw new IdentityFileError(
      `identity file ${file} is accessible by other users (mode ${mode.toString(8).padStart(4, "0")}); anyone who reads it can act as you. Run: chmod 600 '${file}'`,
    );
  }
  let parsed: IdentityJson;
  try {
    const r = IdentityJson.safeParse(JSON.parse(await fs.readFile(file, "utf8")));
    if (!r.success) throw new Error(r.error.issues[0].message);
    parsed = r.data;
  } catch (e) {
    throw new IdentityFileError(`identity file ${file} is not a Sealroom identity: ${(e as Error).message}`);
  }
  try {
    const pairs = await importPairs(parsed);
    await selfTest(pairs);
    return await identityFromKeyPairs(pairs);
  } catch (e) {
    throw new IdentityFileError(`identity file ${file} holds unusable keys: ${(e as Error).message}`);
  }
}

async function exportPairs(p: KeyPairs): Promise<IdentityJson> {
  const ex = async (pair: CryptoKeyPair) => ({
    pkcs8: toBase64(new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey))),
    spki: toBase64(new Uint8Array(await subtle.exportKey("spki", pair.publicKey))),
  });
  return { v: 1, enc: await ex(p.enc), sig: await ex(p.sig) };
}

async function importPairs(j: IdentityJson): Promise<KeyPairs> {
  const der = (s: string) => fromBase64(s)!;
  const [encPriv, encPub, sigPriv, sigPub] = await Promise.all([
    subtle.importKey("pkcs8", der(j.enc.pkcs8), OAEP_ALG, false, ["decrypt"]),
    subtle.importKey("spki", der(j.enc.spki), OAEP_ALG, true, ["encrypt"]),
    subtle.importKey("pkcs8", der(j.sig.pkcs8), PSS_ALG, false, ["sign"]),
    subtle.importKey("spki", der(j.sig.spki), PSS_ALG, true, ["verify"]),
  ]);
  return { enc: { privateKey: encPriv, publicKey: encPub }, sig: { privateKey: sigPriv, publicKey: sigPub } };
}

/** A private key that does not match its public half would fail later and obscurely. */
async function selfTest(p: KeyPairs): Promise<void> {
  const probe = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const sig = await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, p.sig.privateKey, probe);
  if (!(await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, p.sig.publicKey, sig, probe))) {
    throw new Error("signing key does not match its public key");
  }
  const wrapped = await subtle.encrypt(OAEP_ALG, p.enc.publicKey, probe);
  const back = new Uint8Array(await subtle.decrypt(OAEP_ALG, p.enc.privateKey, wrapped));
  if (back.length !== probe.length || back.some((b, i) => b !== probe[i]))
    throw new Error("encryption key does not match its public key");
}

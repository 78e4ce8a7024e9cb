// Load-generator identities. A real member makes two fresh 2048-bit RSA key
// pairs (about 0.1-1 s each here); a benchmark needs up to a thousand
// members, so keys are built from a cached pool of 1024-bit primes instead:
// K primes give K(K-1)/2 distinct 2048-bit moduli. Shared primes make these
// keys worthless for anything but load generation; to the core they are
// ordinary RSA-2048 keys (it checks size, exponent and signatures only).
// Connection-setup timings use genuinely generated keys (freshIdentity).

import { generatePrime } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateIdentity, identityFromKeyPairs, OAEP_ALG, PSS_ALG, type Identity } from "../../protocol/crypto";
import { ROOT } from "./procs";

const CACHE = join(ROOT, "bench", ".cache");
const PRIMES = join(CACHE, "primes-1024.json");
const E = 65537n;

function b64u(n: bigint): string {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  return Buffer.from(hex, "hex").toString("base64url");
}

function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [a % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error("not invertible");
  return ((s0 % m) + m) % m;
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

async function primePool(count: number): Promise<bigint[]> {
  let primes: bigint[] = [];
  if (existsSync(PRIMES)) primes = (JSON.parse(readFileSync(PRIMES, "utf8")) as string[]).map((s) => BigInt(`0x${s}`));
  if (primes.length >= count) return primes;
  const t0 = performance.now();
  while (primes.length < count) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(8, count - primes.length) },
        () =>
          new Promise<bigint>((res, rej) =>
            generatePrime(1024, { bigint: true }, (e, p) => (e ? rej(e) : res(p as bigint))),
          ),
      ),
    );
    // Top two bits set: any product of two is exactly 2048 bits. (p-1) coprime to e.
    for (const p of batch) if (p >> 1022n === 3n && gcd(p - 1n, E) === 1n) primes.push(p);
  }
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(PRIMES, JSON.stringify(primes.map((p) => p.toString(16))));
  process.stdout.write(
    `  (made ${count} primes for bench identities in ${((performance.now() - t0) / 1000).toFixed(1)} s; cached in bench/.cache)\n`,
  );
  return primes;
}

function jwkPair(p: bigint, q: bigint): { priv: JsonWebKey; pub: JsonWebKey } {
  const n = p * q;
  const phi = (p - 1n) * (q - 1n);
  const d = modInverse(E, phi);
  const pub = { kty: "RSA", n: b64u(n), e: b64u(E) };
  const priv = {
    ...pub,
    d: b64u(d),
    p: b64u(p),
    q: b64u(q),
    dp: b64u(d % (p - 1n)),
    dq: b64u(d % (q - 1n)),
    qi: b64u(modInverse(q, p)),
  };
  return { priv, pub };
}

async function pairFrom(
  p: bigint,
  q: bigint,
  alg: typeof OAEP_ALG | typeof PSS_ALG,
  priv: KeyUsage[],
  pub: KeyUsage[],
): Promise<CryptoKeyPair> {
  const j = jwkPair(p, q);
  const subtle = globalThis.crypto.subtle;
  const [privateKey, publicKey] = await Promise.all([
    subtle.importKey("jwk", { ...j.priv, alg: alg.name === "RSA-PSS" ? "PS256" : "RSA-OAEP-256" }, alg, true, priv),
    subtle.importKey("jwk", { ...j.pub, alg: alg.name === "RSA-PSS" ? "PS256" : "RSA-OAEP-256" }, alg, true, pub),
  ]);
  return { privateKey, publicKey };
}

const made: Identity[] = [];

/** The first n bench identities (distinct sig and enc keys each). */
export async function identities(n: number): Promise<Identity[]> {
  if (made.length >= n) return made.slice(0, n);
  let k = 2;
  while ((k * (k - 1)) / 2 < 2 * n) k++;
  const primes = await primePool(k);
  const pairs: [bigint, bigint][] = [];
  // Ordered by the larger index first, so growing the pool only appends pairs:
  // identity i is the same key whatever pool size made it.
  for (let j = 1; j < primes.length && pairs.length < 2 * n; j++)
    for (let i = 0; i < j && pairs.length < 2 * n; i++) pairs.push([primes[i], primes[j]]);
  for (let i = made.length; i < n; i++) {
    const [sp, sq] = pairs[2 * i];
    const [ep, eq] = pairs[2 * i + 1];
    const [sig, enc] = await Promise.all([
      pairFrom(sp, sq, PSS_ALG, ["sign"], ["verify"]),
      pairFrom(ep, eq, OAEP_ALG, ["decrypt"], ["encrypt"]),
    ]);
    made.push(await identityFromKeyPairs({ sig, enc }));
  }
  return made.slice(0, n);
}

/** A genuinely generated identity (for timings that include key generation). */
export function freshIdentity(): Promise<Identity> {
  return generateIdentity({ extractable: false });
}

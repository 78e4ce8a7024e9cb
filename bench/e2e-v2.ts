// `node --import tsx bench/e2e-v2.ts [--json FILE]`: end-to-end v2 (sender
// keys) against v1 (RSA per recipient) in one run: per-message seal/open
// time, envelope bytes for 10/100/500 members, and one rotation in a room of 500.

import { writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { generateIdentity, openEnvelope, sealEnvelope, type Identity } from "../protocol/crypto";
import { admitMember, checkAdmissionProof, makeAdmissionProof, type AdmittedMember } from "../protocol/e2e/admission";
import { openDistribution, wrapChainKey } from "../protocol/e2e/distribution";
import { generateIdentity2, publicIdentity2, type Identity2 } from "../protocol/e2e/identity2";
import { fromB64Url } from "../protocol/e2e/primitives";
import { deriveRoomKeys, generateRoomSecret } from "../protocol/e2e/roomSecret";
import { InboundChain, OutboundChain } from "../protocol/e2e/senderKeys";

const { values } = parseArgs({
  options: { json: { type: "string" }, samples: { type: "string" } },
  allowPositionals: false,
});
const SAMPLES = Number(values.samples ?? 2000);
const SIZES = [10, 100, 500];
const TEXT = "x".repeat(100);
const log = (s: string) => process.stdout.write(s + "\n");

function stats(xs: number[]): { median: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: +q(0.5).toFixed(3), p99: +q(0.99).toFixed(3) };
}

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

const keys = await deriveRoomKeys(fromB64Url(generateRoomSecret()));
// RSA-2048 as the clients use it; recipients share a few key pairs (cost and size per recipient are the same).
const v1s: Identity[] = await Promise.all([0, 1, 2, 3].map(() => generateIdentity()));
const sender = v1s[0];
const sender2 = await generateIdentity2(sender);
const receiver2 = await generateIdentity2(v1s[1]);
const admit = async (me: Identity2): Promise<AdmittedMember> => {
  const r = await admitMember(keys.verificationKey, keys.room, publicIdentity2(me), await makeAdmissionProof(keys, me));
  if (!r.ok) throw new Error(r.reason);
  return r.member;
};
const senderAdmitted = await admit(sender2);

// ---- v2 seal and open, per message ----
const out = OutboundChain.create();
const snap = out.snapshot();
const inb = new InboundChain(snap.epoch, snap.chainKey, snap.n, {
  maxSkip: 2000,
  rotateAfterMessages: 100,
  rotateAfterMs: 7 * 864e5,
  chainsPerSender: 4,
});
const sealT: number[] = [];
const openT: number[] = [];
for (let i = 0; i < SAMPLES; i++) {
  const p = { room: keys.room, from: sender.id, mid: `m${i}`, text: TEXT, ts: Date.now() };
  const [env, ts] = await time(() => out.seal(sender2.sigPrivate2, p));
  const [r, to] = await time(() => inb.open(sender2.sig2Bytes, { room: keys.room, from: sender.id, mid: p.mid, env }));
  if (!r.ok) throw new Error(r.reason);
  if (i >= 50) {
    sealT.push(ts);
    openT.push(to);
  }
}
const v2Seal = stats(sealT);
const v2Open = stats(openT);
log(`v2 seal per message: median ${v2Seal.median} ms, p99 ${v2Seal.p99} ms (${SAMPLES} messages, 100-char text)`);
log(`v2 open per message: median ${v2Open.median} ms, p99 ${v2Open.p99} ms`);

// ---- envelope bytes and v1 cost, 10/100/500 members ----
const rows: { members: number; v1Bytes: number; v2Bytes: number; ratio: number; v1SealMs: number; v1OpenMs: number }[] =
  [];
for (const members of SIZES) {
  const recipients = Array.from({ length: members - 1 }, (_, i) => ({
    id: i === 0 ? v1s[1].id : `r${String(i).padStart(21, "0")}`,
    encKey: v1s[1 + (i % 3)].encKey,
  }));
  const seals: number[] = [];
  const opens: number[] = [];
  let v1Bytes = 0;
  for (let i = 0; i < 5; i++) {
    const [env, ts] = await time(() =>
      sealEnvelope(sender, { room: keys.room, mid: `v1-${i}`, text: TEXT, ts: Date.now(), recipients }),
    );
    const [r, to] = await time(() =>
      openEnvelope(v1s[1], { room: keys.room, from: sender.id, mid: `v1-${i}`, env, senderSigKey: sender.sigKey }),
    );
    if (!r.ok) throw new Error(r.reason);
    seals.push(ts);
    opens.push(to);
    v1Bytes = JSON.stringify(env).length;
  }
  const env2 = await out.seal(sender2.sigPrivate2, {
    room: keys.room,
    from: sender.id,
    mid: "size",
    text: TEXT,
    ts: Date.now(),
  });
  const v2Bytes = JSON.stringify(env2).length;
  rows.push({
    members,
    v1Bytes,
    v2Bytes,
    ratio: +(v1Bytes / v2Bytes).toFixed(1),
    v1SealMs: stats(seals).median,
    v1OpenMs: stats(opens).median,
  });
}
log("\nmembers | v1 envelope bytes | v2 envelope bytes | v1/v2 | v1 seal ms | v1 open ms");
for (const r of rows) log(`${r.members} | ${r.v1Bytes} | ${r.v2Bytes} | ${r.ratio} | ${r.v1SealMs} | ${r.v1OpenMs}`);

// ---- one rotation in a 500-member room ----
const others: AdmittedMember[] = [];
for (let i = 0; i < 499; i++)
  others.push(i === 0 ? await admit(receiver2) : await admit(await generateIdentity2(v1s[1 + (i % 3)])));
const [dists, rotMs] = await time(async () => {
  const chain = OutboundChain.create();
  const s = chain.snapshot();
  return Promise.all(others.map((m) => wrapChainKey(sender2, m, { room: keys.room, ...s })));
});
const rotBytes = dists.reduce((n, d) => n + JSON.stringify({ t: "keys", dist: d, at: Date.now() }).length, 0);
const openDist: number[] = [];
for (let i = 0; i < 200; i++) {
  const [r, t] = await time(() => openDistribution(receiver2, senderAdmitted, dists[0], keys.room));
  if (!r.ok) throw new Error(r.reason);
  openDist.push(t);
}
const verifyProof: number[] = [];
const proof = await makeAdmissionProof(keys, sender2);
for (let i = 0; i < 200; i++)
  verifyProof.push((await time(() => checkAdmissionProof(keys.verificationKey, keys.room, sender2, proof)))[1]);
// A leave makes every remaining sender rotate (lazily, at its next message):
// estimated from the one-sender figures above.
const openMed = stats(openDist).median;
log(
  `\nrotation, one sender, 500-member room: ${rotMs.toFixed(1)} ms to wrap 499 chain keys, ${rotBytes} bytes of distributions (${Math.round(rotBytes / 499)} each)`,
);
log(
  `open one distribution: median ${openMed} ms; check one admission proof (the core at hello): median ${stats(verifyProof).median} ms`,
);
log(
  `a leave in a 500-member room, if all 499 others send again: each sender ${rotMs.toFixed(0)} ms to wrap, each member ${(openMed * 498).toFixed(0)} ms to open 498 distributions, ${((rotBytes * 499) / 1e6).toFixed(1)} MB through the core in all`,
);

const result = {
  machine: `${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, Node ${process.version}`,
  samples: SAMPLES,
  v2: { sealMs: v2Seal, openMs: v2Open },
  envelopes: rows,
  rotation500: {
    wrapMs: +rotMs.toFixed(1),
    bytes: rotBytes,
    openDistributionMs: stats(openDist).median,
    checkAdmissionMs: stats(verifyProof).median,
  },
};
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
log("\n" + JSON.stringify(result));

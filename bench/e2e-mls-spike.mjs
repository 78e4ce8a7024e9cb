// MLS spike for the end-to-end v2 decision (docs/security.md section 10): ts-mls 1.6.4 against the
// RFC 9420 key-schedule vectors, then a commit and messages in a group of N. Not part of the build:
//   mkdir /tmp/mls && cd /tmp/mls && npm i ts-mls@1.6.4 @noble/hashes@2.0.1 @noble/curves@2.0.1 @noble/ciphers@2.1.1
//   copy test_vectors/key-schedule.json from the ts-mls repository to ks.json
//   cp <repo>/bench/e2e-mls-spike.mjs . && node e2e-mls-spike.mjs 500 ks.json
import * as mls from "ts-mls";
import { initializeEpoch } from "ts-mls/keySchedule.js";
import { encodeGroupContext } from "ts-mls/groupContext.js";
import { readFileSync } from "node:fs";
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const eq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
const N = Number(process.argv[2] ?? 500);
// --- vectors
const ks = JSON.parse(readFileSync(process.argv[3], "utf8"));
const names = Object.fromEntries(Object.entries(mls.ciphersuites).map(([k, v]) => [v, k]));
let pass = 0,
  fail = 0,
  skip = 0;
for (const v of ks) {
  const name = names[v.cipher_suite];
  let impl;
  try {
    impl = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(name));
  } catch {
    skip++;
    continue;
  }
  let init = hex(v.initial_init_secret);
  for (const [i, e] of v.epochs.entries()) {
    const gc = {
      version: "mls10",
      cipherSuite: name,
      groupId: hex(v.group_id),
      epoch: BigInt(i),
      treeHash: hex(e.tree_hash),
      confirmedTranscriptHash: hex(e.confirmed_transcript_hash),
      extensions: [],
    };
    const r = await initializeEpoch(init, hex(e.commit_secret), gc, hex(e.psk_secret), impl.kdf);
    const ok =
      eq(encodeGroupContext(gc), hex(e.group_context)) &&
      eq(r.joinerSecret, hex(e.joiner_secret)) &&
      eq(r.welcomeSecret, hex(e.welcome_secret)) &&
      eq(r.keySchedule.initSecret, hex(e.init_secret)) &&
      eq(r.encryptionSecret, hex(e.encryption_secret)) &&
      eq(r.keySchedule.exporterSecret, hex(e.exporter_secret)) &&
      eq(r.keySchedule.epochAuthenticator, hex(e.epoch_authenticator));
    ok ? pass++ : fail++;
    init = r.keySchedule.initSecret;
  }
}
console.log(`key-schedule vectors: ${pass} epochs pass, ${fail} fail, ${skip} suites skipped (missing optional deps)`);
// --- 500-member group
const impl = await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"));
const cred = (s) => ({ credentialType: "basic", identity: new TextEncoder().encode(s) });
let t = performance.now();
const kps = [];
for (let i = 0; i < N; i++)
  kps.push(await mls.generateKeyPackage(cred("m" + i), mls.defaultCapabilities(), mls.defaultLifetime, [], impl));
const tKp = performance.now() - t;
let alice = await mls.createGroup(
  new TextEncoder().encode("room"),
  kps[0].publicPackage,
  kps[0].privatePackage,
  [],
  impl,
);
t = performance.now();
const add = await mls.createCommit(
  { state: alice, cipherSuite: impl },
  {
    extraProposals: kps.slice(1).map((k) => ({ proposalType: "add", add: { keyPackage: k.publicPackage } })),
    ratchetTreeExtension: true,
  },
);
const tAdd = performance.now() - t;
alice = add.newState;
const welcomeBytes = mls.encodeMlsMessage({ welcome: add.welcome, wireformat: "mls_welcome", version: "mls10" }).length;
t = performance.now();
let bob = await mls.joinGroup(add.welcome, kps[1].publicPackage, kps[1].privatePackage, mls.emptyPskIndex, impl);
const tJoin = performance.now() - t;
// Bob commits (an update path) so the tree is populated, then removal by alice
t = performance.now();
const rm = await mls.createCommit(
  { state: alice, cipherSuite: impl },
  { extraProposals: [{ proposalType: "remove", remove: { removed: N - 1 } }] },
);
const tRm = performance.now() - t;
alice = rm.newState;
const rmBytes = mls.encodeMlsMessage(rm.commit).length;
t = performance.now();
const pr = await mls.processMessage(rm.commit, bob, mls.emptyPskIndex, mls.acceptAll, impl);
const tProc = performance.now() - t;
bob = pr.newState;
const msg = new TextEncoder().encode(JSON.stringify({ text: "x".repeat(100), ts: Date.now() }));
let seal = 0,
  open = 0,
  bytes = 0;
const R = 200;
for (let i = 0; i < R; i++) {
  let t0 = performance.now();
  const m = await mls.createApplicationMessage(alice, msg, impl);
  seal += performance.now() - t0;
  alice = m.newState;
  const enc = mls.encodeMlsMessage({
    privateMessage: m.privateMessage,
    wireformat: "mls_private_message",
    version: "mls10",
  });
  bytes = enc.length;
  t0 = performance.now();
  const r = await mls.processPrivateMessage(bob, m.privateMessage, mls.emptyPskIndex, impl);
  open += performance.now() - t0;
  bob = r.newState;
}
console.log(
  JSON.stringify({
    members: N,
    keyPackagesMs: +tKp.toFixed(0),
    addAllCommitMs: +tAdd.toFixed(0),
    welcomeBytes,
    joinMs: +tJoin.toFixed(0),
    removeCommitMs: +tRm.toFixed(1),
    removeCommitBytes: rmBytes,
    processCommitMs: +tProc.toFixed(1),
    sealMs: +(seal / R).toFixed(3),
    openMs: +(open / R).toFixed(3),
    msgBytes100: bytes,
  }),
);

// Bundled by bench/suites/e2e.ts for Chromium: the very sender-key code the
// web app runs, timed per message inside the page.

import { generateSigningKeyPair } from "../../protocol/e2e/primitives";
import { InboundChain, OutboundChain } from "../../protocol/e2e/senderKeys";

/**
 * Chromium coarsens performance.now() to 100 us without cross-origin
 * isolation, so a single message is below its resolution: messages are timed
 * in batches and each batch's mean is one sample.
 */
async function run(batches: number, perBatch: number): Promise<{ seal: number[]; open: number[]; bytes: number }> {
  const signer = await generateSigningKeyPair();
  const out = OutboundChain.create();
  const s = out.snapshot();
  const inb = new InboundChain(s.epoch, s.chainKey, s.n, {
    maxSkip: 2_000,
    rotateAfterMessages: 1e9,
    rotateAfterMs: 1e12,
    chainsPerSender: 4,
  });
  const seal: number[] = [];
  const open: number[] = [];
  let bytes = 0;
  let i = 0;
  for (let b = 0; b < batches + 1; b++) {
    const ps = Array.from({ length: perBatch }, () => ({
      room: "bench",
      from: "A".repeat(22),
      mid: `m${i++}`,
      text: "x".repeat(120),
      ts: Date.now(),
    }));
    const envs = [];
    let t = performance.now();
    for (const p of ps) envs.push(await out.seal(signer.privateKey, p));
    const sealMean = (performance.now() - t) / perBatch;
    t = performance.now();
    for (let k = 0; k < ps.length; k++) {
      const r = await inb.open(signer.publicKey, { room: ps[k].room, from: ps[k].from, mid: ps[k].mid, env: envs[k] });
      if (!r.ok) throw new Error(r.reason);
    }
    const openMean = (performance.now() - t) / perBatch;
    bytes = JSON.stringify(envs[0]).length;
    // The first batch warms up.
    if (b > 0) {
      seal.push(sealMean);
      open.push(openMean);
    }
  }
  return { seal, open, bytes };
}

(globalThis as unknown as { sealroomBench: typeof run }).sealroomBench = run;

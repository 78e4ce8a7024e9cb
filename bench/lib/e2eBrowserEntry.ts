// Bundled by bench/suites/e2e.ts for Chromium: the very sender-key code the
// web app runs, timed per message inside the page.

import { generateSigningKeyPair } from "../../protocol/e2e/primitives";
import { InboundChain, OutboundChain } from "../../protocol/e2e/senderKeys";

async function run(samples: number): Promise<{ seal: number[]; open: number[]; bytes: number }> {
  const signer = await generateSigningKeyPair();
  const out = OutboundChain.create();
  const s = out.snapshot();
  const inb = new InboundChain(s.epoch, s.chainKey, s.n);
  const seal: number[] = [];
  const open: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples; i++) {
    const p = { room: "bench", from: "A".repeat(22), mid: `m${i}`, text: "x".repeat(120), ts: Date.now() };
    let t = performance.now();
    const env = await out.seal(signer.privateKey, p);
    seal.push(performance.now() - t);
    t = performance.now();
    const r = await inb.open(signer.publicKey, { room: p.room, from: p.from, mid: p.mid, env });
    open.push(performance.now() - t);
    if (!r.ok) throw new Error(r.reason);
    bytes = JSON.stringify(env).length;
  }
  return { seal: seal.slice(20), open: open.slice(20), bytes };
}

(globalThis as unknown as { sealroomBench: typeof run }).sealroomBench = run;

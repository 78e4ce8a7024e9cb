// End-to-end v2 client cost, beside v1 in the same run: seal and open per
// message in Node and in Chromium (the same protocol/e2e code, bundled for
// the page), envelope bytes for 10/100/500 members, and one rotation in a
// 500-member room (time to wrap 499 chain keys, bytes through the core).

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import { chromium } from "playwright";
import { generateIdentity, openEnvelope, sealEnvelope, type Identity } from "../../protocol/crypto";
import { admitMember, makeAdmissionProof, type AdmittedMember } from "../../protocol/e2e/admission";
import { openDistribution, wrapChainKey } from "../../protocol/e2e/distribution";
import { generateIdentity2, publicIdentity2, type Identity2 } from "../../protocol/e2e/identity2";
import { fromB64Url } from "../../protocol/e2e/primitives";
import { deriveRoomKeys, generateRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import { InboundChain, OutboundChain } from "../../protocol/e2e/senderKeys";
import { ROOT } from "../lib/procs";
import { spread, type Spread } from "../lib/stats";

const TEXT = "x".repeat(120);

export interface E2eCost {
  node: { sealMs: Spread; openMs: Spread; samples: number };
  /** Chromium: each sample is the mean of a batch of 50 (its timer is coarsened to 100 us). */
  chromium: { sealMs: Spread; openMs: Spread; samples: number } | { error: string };
  /** Envelope JSON bytes, 120-character text. */
  envelopes: { members: number; v1Bytes: number; v2Bytes: number }[];
  rotation500: { wrapMs: number; bytes: number; perMemberBytes: number; openOneMs: number };
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

async function admit(keys: RoomKeys, me: Identity2): Promise<AdmittedMember> {
  const r = await admitMember(keys.verificationKey, keys.room, publicIdentity2(me), await makeAdmissionProof(keys, me));
  if (!r.ok) throw new Error(r.reason);
  return r.member;
}

async function nodeCost(keys: RoomKeys, sender: Identity, samples: number): Promise<E2eCost["node"]> {
  const me = await generateIdentity2(sender);
  const out = OutboundChain.create();
  const s = out.snapshot();
  const inb = new InboundChain(s.epoch, s.chainKey, s.n);
  const seal: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < samples + 20; i++) {
    const p = { room: keys.room, from: sender.id, mid: `m${i}`, text: TEXT, ts: Date.now() };
    const [env, ts] = await timed(() => out.seal(me.sigPrivate2, p));
    const [r, to] = await timed(() => inb.open(me.sig2Bytes, { room: keys.room, from: sender.id, mid: p.mid, env }));
    if (!r.ok) throw new Error(r.reason);
    if (i >= 20) {
      seal.push(ts);
      open.push(to);
    }
  }
  return { sealMs: spread(seal), openMs: spread(open), samples };
}

/** The same code in Chromium: bundled with esbuild, served from loopback (a secure context, so WebCrypto is there). */
async function chromiumCost(samples: number): Promise<E2eCost["chromium"]> {
  const bundle = await build({
    entryPoints: [`${ROOT}/bench/lib/e2eBrowserEntry.ts`],
    bundle: true,
    format: "iife",
    write: false,
    platform: "browser",
    target: "es2022",
  });
  const html = `<!doctype html><script>${bundle.outputFiles[0].text}</script>`;
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(html));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const perBatch = 50;
    const r = await page.evaluate(
      ([b, n]) =>
        (
          globalThis as unknown as { sealroomBench(b: number, n: number): Promise<{ seal: number[]; open: number[] }> }
        ).sealroomBench(b, n),
      [Math.max(5, Math.round(samples / perBatch)), perBatch] as const,
    );
    return { sealMs: spread(r.seal), openMs: spread(r.open), samples };
  } catch (e) {
    return { error: (e as Error).message.split("\n")[0] };
  } finally {
    await browser.close();
    server.close();
  }
}

export async function e2eCost(opts: { samples: number; log: (s: string) => void }): Promise<E2eCost> {
  const keys = await deriveRoomKeys(fromB64Url(generateRoomSecret()));
  const v1s = await Promise.all([0, 1, 2, 3].map(() => generateIdentity()));
  const sender = v1s[0];
  const node = await nodeCost(keys, sender, opts.samples);
  opts.log(
    `    v2 client, Node: seal ${node.sealMs.median.toFixed(3)} ms, open ${node.openMs.median.toFixed(3)} ms per message (median of ${opts.samples})`,
  );
  const browser = await chromiumCost(opts.samples);
  opts.log(
    "error" in browser
      ? `    v2 client, Chromium: not measured (${browser.error})`
      : `    v2 client, Chromium: seal ${browser.sealMs.median.toFixed(3)} ms, open ${browser.openMs.median.toFixed(3)} ms per message`,
  );

  const me = await generateIdentity2(sender);
  const envelopes: E2eCost["envelopes"] = [];
  for (const members of [10, 100, 500]) {
    const recipients = Array.from({ length: members - 1 }, (_, i) => ({
      id: `r${String(i).padStart(21, "0")}`,
      encKey: v1s[1 + (i % 3)].encKey,
    }));
    const v1 = await sealEnvelope(sender, { room: keys.room, mid: "size", text: TEXT, ts: Date.now(), recipients });
    const v2 = await OutboundChain.create().seal(me.sigPrivate2, {
      room: keys.room,
      from: sender.id,
      mid: "size",
      text: TEXT,
      ts: Date.now(),
    });
    envelopes.push({ members, v1Bytes: JSON.stringify(v1).length, v2Bytes: JSON.stringify(v2).length });
    opts.log(
      `    envelope, ${members} members, 120-char text: v1 ${JSON.stringify(v1).length} bytes, v2 ${JSON.stringify(v2).length} bytes`,
    );
  }
  void openEnvelope;

  const receiver = await generateIdentity2(v1s[1]);
  const others: AdmittedMember[] = [await admit(keys, receiver)];
  for (let i = 1; i < 499; i++) others.push(await admit(keys, await generateIdentity2(v1s[1 + (i % 3)])));
  const [dists, wrapMs] = await timed(async () => {
    const s = OutboundChain.create().snapshot();
    return Promise.all(others.map((m) => wrapChainKey(me, m, { room: keys.room, ...s })));
  });
  const bytes = dists.reduce((n, d) => n + JSON.stringify({ t: "keys", dist: d, at: Date.now() }).length + 5, 0);
  const senderAdmitted = await admit(keys, me);
  const opens: number[] = [];
  for (let i = 0; i < 50; i++) {
    const [r, t] = await timed(() => openDistribution(receiver, senderAdmitted, dists[0], keys.room));
    if (!r.ok) throw new Error(r.reason);
    opens.push(t);
  }
  const rotation500 = {
    wrapMs: Math.round(wrapMs * 10) / 10,
    bytes,
    perMemberBytes: Math.round(bytes / 499),
    openOneMs: spread(opens).median,
  };
  opts.log(
    `    one rotation, 500-member room: ${rotation500.wrapMs} ms to wrap 499 chain keys, ${bytes} bytes through the core (${rotation500.perMemberBytes} per member); each member opens its one in ${rotation500.openOneMs.toFixed(3)} ms`,
  );
  return { node, chromium: browser, envelopes, rotation500 };
}

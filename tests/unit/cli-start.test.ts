// `sealroom start` (what `npm start` runs): core and bridge as two processes,
// the printed URL serves the app, the printed core takes members, and Ctrl-C
// stops everything with exit 0.

import { expect, it } from "vitest";
import { runSealroom } from "../helpers/proc";
import { identity, join } from "../helpers/wire";

it("starts core and bridge, prints where to go, stops cleanly on SIGINT", async () => {
  const p = runSealroom(["start", "--core-port", "0", "--port", "0"]);
  const url = (await p.waitFor(/Open\s+(http:\/\/\S+)/, 120_000))[1];
  const coreAt = (await p.waitFor(/--core (\S+):(\d+)/))[2];

  const page = await fetch(`${url}/r/some-room`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("<!doctype html>");

  const viaCore = await join(Number(coreAt), { name: "term", room: "start-test", id: await identity(0) });
  const viaBridge = await join(`${url.replace(/^http/, "ws")}/ws`, {
    name: "web",
    room: "start-test",
    id: await identity(1),
  });
  expect(viaBridge.welcome.members.map((m) => m.name).sort()).toEqual(["term", "web"]);
  viaBridge.peer.send({ t: "videos" });
  expect((await viaBridge.peer.nextT("videos")).items.map((v) => v.id)).toContain("sample.mp4");

  p.child.kill("SIGINT");
  expect((await p.exited).code).toBe(0);
  await viaCore.peer.waitClosed();
  await viaBridge.peer.waitClosed();
}, 150_000);

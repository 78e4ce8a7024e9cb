// A fresh clone (issue 9 part 2): `bin/sealroom bridge` alone serves the web
// app, building web/dist first when it is missing or older than its sources;
// a failed build leaves the 503 page with the reason; `--web DIR` is served
// as it is. The checkout is every file git would check out (tracked and
// not-ignored files of this working tree, so uncommitted work is tested too)
// copied to a temp dir, with this repository's node_modules linked in: a real
// `npm ci` per test run would take minutes.

import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runSealroom, type Proc } from "../helpers/proc";

let clone: string;
beforeAll(() => {
  clone = mkdtempSync(join(tmpdir(), "sealroom-clone-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter((f) => f !== "" && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
  for (const f of files) {
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(clone, f));
    chmodSync(join(clone, f), statSync(join(ROOT, f)).mode & 0o777);
  }
  symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"), "dir");
});
afterAll(() => {
  rmSync(clone, { recursive: true, force: true });
});

const running: Proc[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill("SIGTERM");
      await p.exited;
    }
  }
});

/** `<clone>/bin/sealroom bridge --port 0 ...`; resolves with its URL once it listens. */
async function bridge(args: string[] = []): Promise<{ p: Proc; url: string }> {
  const p = runSealroom(["bridge", "--port", "0", "--core", "127.0.0.1:1", ...args], {
    bin: join(clone, "bin", "sealroom"),
    cwd: clone,
  });
  running.push(p);
  const url = (await p.waitFor(/listening on (http:\/\/\S+)/, 90_000))[1];
  return { p, url };
}

describe("a fresh clone", () => {
  it("serves the app after building it once, with one line while it builds; the next start does not rebuild", async () => {
    expect(existsSync(join(clone, "web", "dist"))).toBe(false);
    const first = await bridge();
    const building = first.p
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("building the web app"));
    expect(building).toEqual(["building the web app into web/dist (missing or older than its sources)..."]);
    expect(first.p.stdout()).toMatch(/built the web app in \d+\.\d s/);
    const res = await fetch(`${first.url}/r/some-room`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toBe(readFileSync(join(clone, "web", "dist", "index.html"), "utf8"));
    expect(html).toContain('<div id="app"></div>');
    const script = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/assets\/.+\.js$/);
    const js = await fetch(`${first.url}${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await js.text()).length).toBeGreaterThan(1000);
    expect(first.p.stderr()).not.toContain("no web app");
    first.p.child.kill("SIGTERM");
    expect((await first.p.exited).code).toBe(0);

    const again = await bridge();
    expect(again.p.stdout()).not.toContain("building the web app");
    expect((await fetch(`${again.url}/`)).status).toBe(200);
  }, 120_000);

  it("rebuilds when a source is newer than the build; --web DIR is served as it is", async () => {
    const indexSrc = join(clone, "web", "index.html");
    writeFileSync(
      indexSrc,
      readFileSync(indexSrc, "utf8").replace("<title>Sealroom</title>", "<title>Sealroom (edited)</title>"),
    );
    const future = new Date(Date.now() + 5_000);
    utimesSync(indexSrc, future, future);

    // Explicit --web: no build, the old files as they are.
    const asIs = await bridge(["--web", join(clone, "web", "dist")]);
    expect(asIs.p.stdout()).not.toContain("building the web app");
    expect(await (await fetch(`${asIs.url}/`)).text()).not.toContain("(edited)");
    asIs.p.child.kill("SIGTERM");
    await asIs.p.exited;

    const rebuilt = await bridge();
    expect(rebuilt.p.stdout()).toContain("building the web app");
    expect(await (await fetch(`${rebuilt.url}/`)).text()).toContain("<title>Sealroom (edited)</title>");
  }, 120_000);

  it("a build that fails leaves the 503 page with the reason, and says so on stderr", async () => {
    const main = join(clone, "web", "src", "main.ts");
    const good = readFileSync(main, "utf8");
    writeFileSync(main, `${good}\nimport "./does-not-exist-sealroom-test";\n`);
    rmSync(join(clone, "web", "dist"), { recursive: true, force: true });
    try {
      const b = await bridge();
      expect(b.p.stdout()).toContain("building the web app");
      expect(b.p.stderr()).toMatch(/building the web app failed: .*does-not-exist-sealroom-test/);
      const res = await fetch(`${b.url}/`);
      expect(res.status).toBe(503);
      const body = await res.text();
      expect(body).toContain("Building it failed:");
      expect(body).toContain("does-not-exist-sealroom-test");
      expect(body).toContain("npm run build:web");
    } finally {
      writeFileSync(main, good);
    }
  }, 120_000);
});

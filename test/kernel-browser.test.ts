// The kernel as a researcher meets it: Debian's classic Notebook in headless
// Chromium (puppeteer-core), a notebook on the Arclight kernel, cells run from
// the page, and assertions on what the page shows. `bash scripts/ensure-browser.sh`
// (run by pretest) installs chromium and jupyter-notebook when missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { SYSTEM_PYTHON } from "../kernel/jupyter-server.js";
import { requireKernelPrereqs, tempKernelspec } from "./kernel-helpers.js";

const CHROMIUM = "/usr/bin/chromium";
let server: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as import("node:net").AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const CELLS = [
  "40 + 2",
  'for (let i = 0; i < 3; i++) {\n  console.log("tick " + i);\n  const until = Date.now() + 100;\n  while (Date.now() < until) {}\n}',
  "agl.charts.rewardCurve(Array.from({ length: 12 }, (_, i) => ({ step: i, reward: i / 12 })))",
  'agl.table([{ rollout: "ro-0123456789abcdef", reward: 1 }])',
  'const bar = agl.progress({ total: 3, label: "steps" });\nfor (let i = 0; i < 3; i++) {\n  await new Promise((r) => setTimeout(r, 30));\n  bar.tick();\n}',
  'throw new RangeError("boom in a cell")',
];

before(
  async () => {
    requireKernelPrereqs();
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/ensure-browser.sh\``);
    const dir = mkdtempSync(join(tmpdir(), "arclight-browser-"));
    const nb = {
      cells: CELLS.map((source, i) => ({ cell_type: "code", id: `c${i}`, execution_count: null, metadata: {}, outputs: [], source })),
      metadata: { kernelspec: { name: "arclight", display_name: "Arclight (TypeScript)", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    writeFileSync(join(dir, "t.ipynb"), JSON.stringify(nb));
    const port = await freePort();
    const token = randomBytes(16).toString("hex");
    const env = {
      ...process.env,
      JUPYTER_PATH: tempKernelspec(),
      JUPYTER_CONFIG_DIR: join(dir, ".config"),
      JUPYTER_RUNTIME_DIR: join(dir, ".runtime"),
    };
    // setpriv --pdeathsig: the server goes down with this test process however that one ends.
    server = spawn(
      "/usr/bin/setpriv",
      [
        "--pdeathsig",
        "SIGKILL",
        "--",
        SYSTEM_PYTHON,
        "-m",
        "notebook",
        "--no-browser",
        `--port=${port}`,
        "--ip=127.0.0.1",
        `--NotebookApp.token=${token}`,
        `--NotebookApp.notebook_dir=${dir}`,
        "--allow-root",
      ],
      { env, stdio: "ignore" },
    );
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/api/status?token=${token}`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 300) throw new Error("classic Notebook did not start within 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${join(dir, ".chromium")}`,
      ],
    });
    page = await browser.newPage();
    await page.goto(`${base}/notebooks/t.ipynb?token=${token}`, { waitUntil: "load", timeout: 60_000 });
    // The kernel is up when the notebook's kernel object says so and a first request went through.
    await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.(), { timeout: 90_000 });
  },
  { timeout: 180_000 },
);

after(async () => {
  await browser?.close().catch(() => {});
  server?.kill("SIGKILL");
});

const outputText = (i: number) =>
  page.evaluate((n) => (document.querySelectorAll(".cell")[n]?.querySelector(".output_wrapper") as HTMLElement | null)?.innerText ?? "", i);

test("classic Notebook shows values, streams, a chart, a table, a progress bar and an error from the Arclight kernel", {
  timeout: 180_000,
}, async () => {
  await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
  // Run all stops at the failing last cell; wait for its error to show.
  await page.waitForFunction(() => document.querySelectorAll(".cell")[5]?.querySelector(".output_error") !== null, { timeout: 150_000 });
  assert.match(await outputText(0), /Out\[\d+\]:\s*42/);
  assert.match(await outputText(1), /tick 0\s+tick 1\s+tick 2/);
  const img = await page.evaluate(() => {
    const el = document.querySelectorAll(".cell")[2]?.querySelector(".output_png img, .output_svg svg, img") as HTMLImageElement | null;
    return el
      ? { w: el.getBoundingClientRect().width, h: el.getBoundingClientRect().height, complete: (el as HTMLImageElement).complete ?? true }
      : null;
  });
  assert.ok(img && img.w > 100 && img.h > 50, `chart image ${JSON.stringify(img)}`);
  const idTitle = await page.evaluate(() =>
    document.querySelectorAll(".cell")[3]?.querySelector("span[title^='ro-']")?.getAttribute("title"),
  );
  assert.equal(idTitle, "ro-0123456789abcdef");
  const prog = await page.evaluate(
    () => (document.querySelectorAll(".cell")[4]?.querySelector("progress") as HTMLProgressElement | null)?.value,
  );
  assert.equal(prog, 3);
  const err = await outputText(5);
  assert.match(err, /RangeError/);
  assert.match(err, /boom in a cell/);
  // The colours arrive as ANSI and the page renders them as coloured spans, not escape codes.
  assert.doesNotMatch(err, /\x1b|\[0;31m/);
});

test("completion on agl. and interrupt with recovery work from the page", { timeout: 120_000 }, async () => {
  const matches = await page.evaluate(
    () =>
      new Promise<string[]>((resolve) =>
        (window as any).Jupyter.notebook.kernel.complete("agl.", 4, (m: any) => resolve(m.content.matches)),
      ),
  );
  assert.ok(matches.includes("display") && matches.includes("charts"), matches.slice(0, 20).join(", "));
  await page.evaluate(() => {
    const nb = (window as any).Jupyter.notebook;
    const c = nb.insert_cell_at_bottom("code");
    c.set_text("let spins = 0;\nwhile (true) { spins++; }");
    c.execute();
  });
  await new Promise((r) => setTimeout(r, 1500));
  await page.evaluate(() => (window as any).Jupyter.notebook.kernel.interrupt());
  await page.waitForFunction(
    () =>
      /KeyboardInterrupt/.test(
        (document.querySelectorAll(".cell")[6]?.querySelector(".output_wrapper") as HTMLElement | null)?.innerText ?? "",
      ),
    { timeout: 60_000 },
  );
  await page.evaluate(() => {
    const c = (window as any).Jupyter.notebook.insert_cell_at_bottom("code");
    c.set_text("spins > 0");
    c.execute();
  });
  await page.waitForFunction(
    () =>
      /Out\[\d+\]:\s*true/.test(
        (document.querySelectorAll(".cell")[7]?.querySelector(".output_wrapper") as HTMLElement | null)?.innerText ?? "",
      ),
    { timeout: 60_000 },
  );
});

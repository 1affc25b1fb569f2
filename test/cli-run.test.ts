import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireKernelPrereqs } from "./kernel-helpers.js";

const root = new URL("..", import.meta.url).pathname;
const cli = join(root, "dist", "src", "cli", "main.js");

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 280_000, killSignal: "SIGKILL" });
}

test("arclight run executes the hello notebook and writes outputs and a self-contained report", { timeout: 300_000 }, () => {
  requireKernelPrereqs();
  const dir = mkdtempSync(join(tmpdir(), "arclight-cli-run-"));
  const out = join(dir, "out.ipynb");
  const html = join(dir, "report.html");
  const r = run(["run", "notebooks/hello-arclight.ipynb", "--out", out, "--html", html, "--timeout", "240"]);
  assert.equal(r.status, 0, r.stderr);
  const nb = JSON.parse(readFileSync(out, "utf8"));
  const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code");
  assert.deepEqual(
    code.map((c: { execution_count: number }) => c.execution_count),
    code.map((_: unknown, i: number) => i + 1),
  );
  const outputs = code.flatMap((c: { outputs: Array<Record<string, unknown>> }) => c.outputs);
  assert.ok(
    outputs.some(
      (o: Record<string, unknown>) =>
        o.output_type === "execute_result" && (o.data as Record<string, string>)["text/html"]?.includes("mean reward"),
    ),
  );
  // The progress bar was updated in place to its final state, not appended per step.
  const bars = outputs.filter((o: Record<string, unknown>) =>
    String((o.data as Record<string, string> | undefined)?.["text/plain"] ?? "").startsWith("steps ["),
  );
  assert.equal(bars.length, 1);
  assert.match((bars[0]!.data as Record<string, string>)["text/plain"]!, /20\/20 .*done/);
  assert.equal(nb.metadata.arclight.seeds["hello.sleep"], 42);
  const page = readFileSync(html, "utf8");
  assert.match(page, /Arclight 0\.\d+\.\d+/);
  assert.match(page, new RegExp(`Node ${process.version.replace(/\./g, "\\.")}`));
  assert.match(page, /hello\.sleep=42/);
  assert.doesNotMatch(page, /<script|https?:\/\/(?!127)[^"]*\.(js|css)/);
});

test("arclight run fails with the cell number and the TypeScript line of a failing cell", { timeout: 300_000 }, () => {
  requireKernelPrereqs();
  const dir = mkdtempSync(join(tmpdir(), "arclight-cli-fail-"));
  const out = join(dir, "out.ipynb");
  const r = run(["run", "test/fixtures/notebooks/failing.ipynb", "--out", out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cell\[2\] failed: RangeError: too big: 2/);
  assert.match(r.stderr, /at explode \(cell\[2\]:3\)/);
  // One message per cell, one numbering (the execution count the traceback uses too).
  assert.match(r.stderr, /^arclight run: cell\[1\] ok/m);
  assert.equal(r.stderr.match(/cell\[2\] (ok|failed)/g)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /cell \d/);
  const nb = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(nb.cells[2].execution_count ?? null, null, "cells after the failure do not run");
});

test("a chart shows in Debian's nbconvert HTML export (PNG, not a stripped SVG); ids and wide tables fit", { timeout: 300_000 }, () => {
  requireKernelPrereqs();
  const dir = mkdtempSync(join(tmpdir(), "arclight-cli-chart-"));
  const out = join(dir, "chart.ipynb");
  const r = run(["run", "test/fixtures/notebooks/chart-table.ipynb", "--out", out, "--html", join(dir, "report.html")]);
  assert.equal(r.status, 0, r.stderr);
  const conv = spawnSync("/usr/bin/python3", ["-m", "nbconvert", "--to", "html", "--output-dir", dir, out], {
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(conv.status, 0, conv.stderr);
  const html = readFileSync(join(dir, "chart.html"), "utf8");
  const png = html.match(/<img src="data:image\/png;base64,([A-Za-z0-9+/=\s]+)"/);
  assert.ok(png, "the chart's PNG is in the export");
  const bytes = Buffer.from(png[1]!.replace(/\s/g, ""), "base64");
  assert.ok(bytes.length > 2000 && bytes.subarray(1, 4).toString() === "PNG", `PNG of ${bytes.length} bytes`);
  assert.doesNotMatch(html, /<svg[^>]*>\s*<\/svg>/, "no emptied inline SVG");
  // The table: ids shortened on one line with the full id on hover, in a box that scrolls.
  assert.match(html, /<span title="ro-00038d7ea4c68000">ro-00038d7e…<\/span>/);
  assert.match(html, /overflow-x:auto/);
  const report = readFileSync(join(dir, "report.html"), "utf8");
  assert.match(report, /<img class="chart" alt="chart" src="data:image\/png;base64,/);
});

test("arclight kernel install and uninstall manage the kernelspec under a prefix", () => {
  const prefix = mkdtempSync(join(tmpdir(), "arclight-kspec-cli-"));
  const r = run(["kernel", "install", "--prefix", prefix]);
  assert.equal(r.status, 0, r.stderr);
  const spec = JSON.parse(readFileSync(join(prefix, "share/jupyter/kernels/arclight/kernel.json"), "utf8"));
  assert.equal(spec.display_name, "Arclight (TypeScript)");
  assert.equal(spec.argv[0], process.execPath);
  assert.equal(spec.argv[1], join(root, "dist", "kernel", "main.js"));
  assert.equal(spec.interrupt_mode, "message");
  assert.equal(run(["kernel", "uninstall", "--prefix", prefix]).status, 0);
  assert.throws(() => readFileSync(join(prefix, "share/jupyter/kernels/arclight/kernel.json")));
  assert.equal(run(["kernel", "install", "--user", "--prefix", prefix]).status, 2);
});

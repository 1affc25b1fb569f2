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
  return spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
}

test("arclight run executes the hello notebook and writes outputs and a self-contained report", () => {
  requireKernelPrereqs();
  const dir = mkdtempSync(join(tmpdir(), "arclight-cli-run-"));
  const out = join(dir, "out.ipynb");
  const html = join(dir, "report.html");
  const r = run(["run", "notebooks/hello-arclight.ipynb", "--out", out, "--html", html, "--timeout", "60"]);
  assert.equal(r.status, 0, r.stderr);
  const nb = JSON.parse(readFileSync(out, "utf8"));
  const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code");
  assert.deepEqual(
    code.map((c: { execution_count: number }) => c.execution_count),
    code.map((_: unknown, i: number) => i + 1),
  );
  const outputs = code.flatMap((c: { outputs: Array<Record<string, unknown>> }) => c.outputs);
  assert.ok(outputs.some((o: Record<string, unknown>) => o.output_type === "execute_result" && (o.data as Record<string, string>)["text/html"]?.includes("mean reward")));
  // The progress bar was updated in place to its final state, not appended per step.
  const bars = outputs.filter((o: Record<string, unknown>) => String((o.data as Record<string, string> | undefined)?.["text/plain"] ?? "").startsWith("steps ["));
  assert.equal(bars.length, 1);
  assert.match((bars[0]!.data as Record<string, string>)["text/plain"]!, /20\/20 .*done/);
  assert.equal(nb.metadata.arclight.seeds["hello.sleep"], 42);
  const page = readFileSync(html, "utf8");
  assert.match(page, /Arclight 0\.\d+\.\d+/);
  assert.match(page, new RegExp(`Node ${process.version.replace(/\./g, "\\.")}`));
  assert.match(page, /hello\.sleep=42/);
  assert.doesNotMatch(page, /<script|https?:\/\/(?!127)[^"]*\.(js|css)/);
});

test("arclight run fails with the cell number and the TypeScript line of a failing cell", () => {
  requireKernelPrereqs();
  const dir = mkdtempSync(join(tmpdir(), "arclight-cli-fail-"));
  const out = join(dir, "out.ipynb");
  const r = run(["run", "test/fixtures/notebooks/failing.ipynb", "--out", out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cell 2 failed: RangeError: too big: 2/);
  assert.match(r.stderr, /at explode \(cell\[2\]:3\)/);
  const nb = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(nb.cells[2].execution_count ?? null, null, "cells after the failure do not run");
});

test("arclight kernel install and uninstall manage the kernelspec under a prefix", () => {
  const prefix = mkdtempSync(join(tmpdir(), "arclight-kspec-cli-"));
  const r = run(["kernel", "install", "--prefix", prefix]);
  assert.equal(r.status, 0, r.stderr);
  const spec = JSON.parse(readFileSync(join(prefix, "share/jupyter/kernels/arclight/kernel.json"), "utf8"));
  assert.equal(spec.display_name, "Arclight (TypeScript)");
  assert.equal(spec.argv[0], process.execPath);
  assert.equal(spec.argv[1], join(root, "dist", "kernel", "main.js"));
  assert.equal(spec.interrupt_mode, "signal");
  assert.equal(run(["kernel", "uninstall", "--prefix", prefix]).status, 0);
  assert.throws(() => readFileSync(join(prefix, "share/jupyter/kernels/arclight/kernel.json")));
  assert.equal(run(["kernel", "install", "--user", "--prefix", prefix]).status, 2);
});

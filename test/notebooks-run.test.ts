import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runNotebook } from "../kernel/notebook-runner.js";
import { SYSTEM_PYTHON } from "../kernel/jupyter-server.js";
import { writeSyntheticRun } from "../src/frame/index.js";
import { openStore } from "../src/store/index.js";
import { requireKernelPrereqs } from "./kernel-helpers.js";

// Discovered at run time: every notebook anyone adds to notebooks/ must run headlessly.
const dir = new URL("../notebooks/", import.meta.url).pathname;
const notebooks = readdirSync(dir)
  .filter((f) => f.endsWith(".ipynb"))
  .sort();

test("notebooks/ holds at least the hello notebook", () => {
  assert.ok(notebooks.includes("hello-arclight.ipynb"));
});

test("every notebook validates with nbformat, warnings included (cell ids for nbformat 4.5)", { timeout: 60_000 }, () => {
  requireKernelPrereqs();
  const files = [...notebooks.map((n) => join(dir, n)), new URL("fixtures/notebooks/failing.ipynb", import.meta.url).pathname];
  const script = `import sys, warnings, nbformat
warnings.simplefilter("error")
for f in sys.argv[1:]:
    nbformat.validate(nbformat.read(f, as_version=nbformat.NO_CONVERT))`;
  const r = spawnSync(SYSTEM_PYTHON, ["-c", script, ...files], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
});

test("a synthetic run with the same seed has the same rollout ids", async () => {
  const ids = async (seed: number) => (await writeSyntheticRun(await openStore(), { rollouts: 5, seed })).rolloutIds;
  const a = await ids(7);
  assert.deepEqual(await ids(7), a);
  assert.notDeepEqual(await ids(8), a);
  assert.equal(new Set(a).size, a.length);
});

for (const name of notebooks) {
  test(`notebook ${name} runs without error`, { timeout: 300_000 }, async () => {
    requireKernelPrereqs();
    const { notebook, failure } = await runNotebook(join(dir, name), { timeoutS: 240 });
    assert.equal(failure, undefined, failure ? `${failure.message}\n${failure.traceback.join("\n")}` : "");
    for (const cell of notebook.cells) {
      if (cell.cell_type === "code") assert.equal(typeof cell.execution_count, "number");
    }
  });
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runNotebook } from "../kernel/notebook-runner.js";
import { requireKernelPrereqs } from "./kernel-helpers.js";

// Discovered at run time: every notebook anyone adds to notebooks/ must run headlessly.
const dir = new URL("../notebooks/", import.meta.url).pathname;
const notebooks = readdirSync(dir).filter((f) => f.endsWith(".ipynb")).sort();

test("notebooks/ holds at least the hello notebook", () => {
  assert.ok(notebooks.includes("hello-arclight.ipynb"));
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

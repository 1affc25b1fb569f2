import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { requireKernelPrereqs, tempKernelspec } from "./kernel-helpers.js";

test("the arclight kernel passes the jupyter_kernel_test conformance suite", { timeout: 320_000 }, () => {
  requireKernelPrereqs();
  const jupyterPath = tempKernelspec();
  const r = spawnSync("/usr/bin/python3", ["-m", "unittest", "-v", "kernel_conformance"], {
    cwd: new URL(".", import.meta.url).pathname,
    env: { ...process.env, JUPYTER_PATH: jupyterPath },
    encoding: "utf8",
    // The first cell waits for the compiler to load (tens of seconds on a loaded machine); a kernel left
    // behind by a killed run notices its parent is gone and exits.
    timeout: 300_000,
    killSignal: "SIGKILL",
  });
  const log = r.stderr + r.stdout;
  assert.equal(r.status, 0, log);
  const passed = [...log.matchAll(/^(test_\w+) \(.*\) \.\.\. ok$/gm)].map((m) => m[1]).sort();
  const skipped = [...log.matchAll(/^(test_\w+) \(.*\) \.\.\. skipped/gm)].map((m) => m[1]);
  assert.deepEqual(passed, [
    "test_clear_output",
    "test_completion",
    "test_display_data",
    "test_error",
    "test_execute_result",
    "test_execute_stderr",
    "test_execute_stdout",
    "test_history",
    "test_inspect",
    "test_is_complete",
    "test_kernel_info",
  ]);
  // Only the pager (a payload this kernel does not offer) may be skipped.
  assert.deepEqual(skipped, ["test_pager"], log);
  assert.match(log, /Ran 12 tests/);
});

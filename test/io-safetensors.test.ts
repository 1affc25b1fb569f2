// Builds native/io's standalone C++ test binary with g++ and runs it: safetensors
// round trips, dtype conversions, malformed-file rejection, HF layout mapping.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const hasGxx = spawnSync("g++", ["--version"], { encoding: "utf8" }).status === 0;

test("native io C++ tests pass (safetensors, F16/BF16, malformed files, GPT-2 and Qwen2 layouts)", {
  skip: hasGxx ? false : "g++ not found on PATH; install g++ to build native/io/test/test_io.cpp",
  timeout: 180_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-io-"));
  try {
    const bin = join(dir, "test_io");
    const sources = ["json.cpp", "safetensors.cpp", "hf_layout.cpp", "test/test_io.cpp"].map((f) => join(root, "native/io", f));
    const build = spawnSync("g++", ["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", ...sources, "-o", bin], { encoding: "utf8" });
    assert.equal(build.status, 0, `g++ failed:\n${build.stderr}`);
    const scratch = join(dir, "scratch");
    mkdirSync(scratch);
    const run = spawnSync(bin, [join(root, "test/fixtures/io"), scratch], { encoding: "utf8" });
    assert.equal(run.status, 0, `test_io failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\d+ checks, 0 failures/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

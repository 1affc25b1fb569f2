import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Builds native/cuda (kernels + model library, standalone parity binaries) with nvcc and runs them.
// Without a GPU the binary must say "SKIP: no CUDA device (reason)" and exit 0: the test is then
// reported as skipped with that reason. With a GPU every kernel must pass its parity check.

const root = fileURLToPath(new URL("..", import.meta.url));
const buildScript = join(root, "native", "cuda", "build.sh");

function findNvcc(): string | undefined {
  const which = spawnSync("bash", ["-c", "command -v nvcc"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  return existsSync("/usr/local/cuda/bin/nvcc") ? "/usr/local/cuda/bin/nvcc" : undefined;
}

const nvcc = findNvcc();
// One build for both tests, in a private folder: other checkouts' builds are left alone.
const outDir = mkdtempSync(join(tmpdir(), "arclight-cuda-"));
let build: ReturnType<typeof spawnSync> | undefined;

function buildOnce(): ReturnType<typeof spawnSync> {
  if (!build) {
    build = spawnSync("bash", [buildScript, "all"], {
      encoding: "utf8",
      env: { ...process.env, NVCC: nvcc, ARCLIGHT_CUDA_BUILD: outDir, ARCLIGHT_CUDA_ARCHS: "80 90a", ARCLIGHT_CUDA_WERROR: "1" },
      timeout: 300_000,
    });
  }
  return build;
}

test.after(() => rmSync(outDir, { recursive: true, force: true }));

test("CUDA backend compiles without warnings into a library with sm_80 and sm_90a code", (t) => {
  if (!nvcc) {
    t.skip("skipped: nvcc not found, the CUDA backend cannot be built here");
    return;
  }
  const b = buildOnce();
  assert.equal(b.status, 0, `build.sh failed:\n${String(b.stdout)}\n${String(b.stderr)}`);
  const lib = readFileSync(join(outDir, "libarclight_cuda.a")).toString("latin1");
  // The fatbinary names each embedded cubin's target.
  assert.match(lib, /sm_80/);
  assert.match(lib, /sm_90a/);
  assert.match(lib, /arclight_cuda_device_count/);
});

test("CUDA kernels match the CPU references, or the parity binary skips with the reason there is no device", (t) => {
  if (!nvcc) {
    t.skip("skipped: nvcc not found, the parity binary cannot be built here");
    return;
  }
  const b = buildOnce();
  assert.equal(b.status, 0, `build.sh failed:\n${String(b.stderr)}`);
  const run = spawnSync(join(outDir, "test_kernels"), [], { encoding: "utf8", timeout: 240_000 });
  const out = run.stdout ?? "";
  assert.equal(run.signal, null, `test_kernels was killed by ${run.signal}:\n${out}\n${run.stderr}`);
  const skip = /^SKIP: no CUDA device \((.+)\)$/m.exec(out);
  if (skip) {
    assert.equal(run.status, 0, "a skip must exit 0");
    assert.doesNotMatch(out, /^(PASS|FAIL) /m, "a skipped run must not report kernel results");
    t.skip(`skipped: no CUDA device (${skip[1]})`);
    return;
  }
  const fails = out.split("\n").filter((l) => l.startsWith("FAIL") || l.startsWith("ERROR"));
  assert.deepEqual(fails, [], `kernels failed parity:\n${out}`);
  const result = /^RESULT: (\d+) passed, 0 failed on (.+)$/m.exec(out);
  assert.ok(result, `no RESULT line:\n${out}\n${run.stderr}`);
  assert.ok(Number(result[1]) >= 100, `only ${result[1]} checks ran`);
  assert.equal(run.status, 0);
});

test("the whole model on CUDA matches the CPU backend (logprobs, losses, gradients, AdamW steps, greedy decoding), or skips with the reason", (t) => {
  if (!nvcc) {
    t.skip("skipped: nvcc not found, the model parity binary cannot be built here");
    return;
  }
  const b = buildOnce();
  assert.equal(b.status, 0, `build.sh failed:\n${String(b.stderr)}`);
  const run = spawnSync(join(outDir, "test_model"), [], { encoding: "utf8", timeout: 240_000 });
  const out = run.stdout ?? "";
  assert.equal(run.signal, null, `test_model was killed by ${run.signal}:\n${out}\n${run.stderr}`);
  const skip = /^SKIP: no CUDA device \((.+)\)$/m.exec(out);
  if (skip) {
    assert.equal(run.status, 0, "a skip must exit 0");
    assert.doesNotMatch(out, /^(PASS|FAIL) /m, "a skipped run must not report results");
    t.skip(`skipped: no CUDA device (${skip[1]})`);
    return;
  }
  const fails = out.split("\n").filter((l) => l.startsWith("FAIL") || l.startsWith("ERROR"));
  assert.deepEqual(fails, [], `model parity failed:\n${out}`);
  const result = /^RESULT: (\d+) passed, 0 failed on (.+)$/m.exec(out);
  assert.ok(result, `no RESULT line:\n${out}\n${run.stderr}`);
  assert.ok(Number(result[1]) >= 200, `only ${result[1]} checks ran`);
  assert.equal(run.status, 0);
});

test("CudaModel's own logic (padding, gathers, KV cache, backward order, AdamW wiring) matches the CPU backend through a host emulation of the launchers", (t) => {
  if (!nvcc) {
    t.skip("skipped: nvcc not found, the CUDA backend cannot be built here");
    return;
  }
  const b = buildOnce();
  assert.equal(b.status, 0, `build.sh failed:\n${String(b.stderr)}`);
  const run = spawnSync(join(outDir, "test_model_host"), [], { encoding: "utf8", timeout: 240_000 });
  const out = run.stdout ?? "";
  assert.equal(run.signal, null, `test_model_host was killed by ${run.signal}:\n${out}\n${run.stderr}`);
  const fails = out.split("\n").filter((l) => l.startsWith("FAIL") || l.startsWith("ERROR"));
  assert.deepEqual(fails, [], `CudaModel over the host emulation disagrees with the CPU backend:\n${out}`);
  const result = /^RESULT: (\d+) passed, 0 failed on host emulation/m.exec(out);
  assert.ok(result, `no RESULT line:\n${out}\n${run.stderr}`);
  assert.ok(Number(result[1]) >= 700, `only ${result[1]} checks ran`);
  assert.equal(run.status, 0);
});

test("the parity test's CPU references for GPT-2 and Qwen2 block steps match float64 central differences and learn", (t) => {
  if (!nvcc) {
    t.skip("skipped: nvcc not found, the parity binary cannot be built here");
    return;
  }
  const b = buildOnce();
  assert.equal(b.status, 0, `build.sh failed:\n${String(b.stderr)}`);
  const run = spawnSync(join(outDir, "test_kernels"), ["--self-check"], { encoding: "utf8", timeout: 120_000 });
  const out = run.stdout ?? "";
  const lines = out.split("\n").filter((l) => l.startsWith("PASS") || l.startsWith("FAIL"));
  // one check per GPT-2 (16) and Qwen2 (14) block parameter, then "the loss falls over 4 AdamW steps"
  assert.equal(lines.length, 31, `expected 31 checks:\n${out}`);
  assert.deepEqual(
    lines.filter((l) => l.startsWith("FAIL")),
    [],
  );
  assert.match(out, /^SELF-CHECK: 31 passed, 0 failed$/m);
  assert.equal(run.status, 0);
});

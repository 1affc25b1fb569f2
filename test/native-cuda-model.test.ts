// Device choice for a Policy. With a CUDA device: the model runs there (policy.device "cuda") and
// agrees with the CPU backend on logprobs, losses, training and greedy generation, in fp32 and,
// looser, bf16; checkpoints move between the two. Without one: device "cuda" runs on the CPU,
// says why once (policy.deviceNote and a console warning), and computes exactly what an explicit
// CPU policy computes. Either way a bad device or precision is a TypeError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy, loadAddon, type PolicyConfig } from "../src/native/index.js";

const dir = mkdtempSync(join(tmpdir(), "arclight-cuda-model-"));
const backends = loadAddon().backends();
const hasGpu = backends.cuda && backends.cudaDevices > 0;
const configs: PolicyConfig[] = [
  { family: "gpt2", layers: 2, dModel: 64, heads: 4, vocab: 60, ctx: 48, seed: 4 },
  { family: "qwen2", layers: 2, dModel: 64, heads: 4, kvHeads: 2, vocab: 60, ctx: 48, seed: 4, tieEmbeddings: false },
];
const batch = {
  prompts: [[1, 2, 3], [4], [5, 6, 7, 8, 9]],
  responses: [
    [10, 11, 12, 13],
    [14, 15],
    [16, 17, 18, 19, 20, 21],
  ],
  rewards: [1, 0, 0.25],
  groupSize: 3,
};
const train = { loss: "grpo", lr: 1e-2, weightDecay: 0.1, warmupSteps: 1, totalSteps: 4 } as const;

function close(got: number[][], want: number[][], tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  got.forEach((row, i) => {
    assert.equal(row.length, want[i].length, what);
    row.forEach((x, j) => assert.ok(Math.abs(x - want[i][j]) <= tol, `${what}[${i}][${j}]: ${x} vs ${want[i][j]} (tol ${tol})`));
  });
}

async function captureWarnings<T>(f: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const orig = console.warn;
  console.warn = (m: unknown) => warnings.push(String(m));
  try {
    return { value: await f(), warnings };
  } finally {
    console.warn = orig;
  }
}

test("device and precision options are validated with a TypeError", async () => {
  const cfg = configs[0];
  await assert.rejects(
    Policy.create({ ...cfg, device: "gpu" as never }),
    (e: Error) => e instanceof TypeError && /device must be/.test(e.message),
  );
  await assert.rejects(
    Policy.create({ ...cfg, precision: "fp16" as never }),
    (e: Error) => e instanceof TypeError && /precision must be "fp32" or "bf16"/.test(e.message),
  );
  await assert.rejects(Policy.load(join(dir, "x.safetensors"), { precision: "int8" as never }), TypeError);
  await assert.rejects(Policy.load(join(dir, "x.safetensors"), { device: "tpu" as never }), TypeError);
  await assert.rejects(Policy.fromPretrained(dir, { device: 1 as never }), TypeError);
  const cpu = await Policy.create({ ...cfg, device: "cpu" });
  assert.equal(cpu.device, "cpu");
  assert.equal(cpu.precision, "fp32");
  assert.equal(cpu.deviceNote, undefined);
});

test("without a CUDA device, device cuda runs on the CPU with one warning and equals an explicit CPU policy", {
  skip: hasGpu ? "a CUDA device is present" : false,
}, async () => {
  for (const cfg of configs) {
    const {
      value: [a, a2],
      warnings,
    } = await captureWarnings(async () => [
      await Policy.create({ ...cfg, device: "cuda" }),
      await Policy.create({ ...cfg, device: "cuda" }),
    ]);
    const cpu = await Policy.create({ ...cfg, device: "cpu" });
    assert.equal(a.device, "cpu");
    assert.equal(a2.device, "cpu");
    assert.match(
      a.deviceNote ?? "",
      /device "cuda" requested but (there is no CUDA device \(.+\)|the addon was built without nvcc); using the CPU backend/,
    );
    if (cfg === configs[0]) assert.equal(warnings.length, 1, `one warning per distinct reason, got ${JSON.stringify(warnings)}`);
    else assert.equal(warnings.length, 0, "already warned for this reason");
    assert.deepEqual(await a.logprobs(batch), await cpu.logprobs(batch));
    for (let i = 0; i < 2; i++) {
      const [sa, sc] = [await a.trainStep(batch, train), await cpu.trainStep(batch, train)];
      assert.deepEqual([sa.loss, sa.gradNorm, sa.lr, sa.step], [sc.loss, sc.gradNorm, sc.lr, sc.step]);
    }
    const g = { n: 2, maxTokens: 6, temperature: 0.8, seed: 3 };
    assert.deepEqual((await a.generate(batch.prompts, g)).tokens, (await cpu.generate(batch.prompts, g)).tokens);
    // the clone stays where its source runs, and remembers why
    const c = a.clone();
    assert.equal(c.device, "cpu");
    assert.equal(c.deviceNote, a.deviceNote);
    // load honours the request the same way
    const path = join(dir, `${cfg.family}.safetensors`);
    await a.save(path);
    const loaded = await Policy.load(path, { device: "cuda" });
    assert.equal(loaded.device, "cpu");
    assert.deepEqual(await loaded.logprobs(batch), await a.logprobs(batch));
  }
  // "auto" picks the CPU silently; bf16 on the CPU is noted (it runs fp32)
  const { value: auto, warnings } = await captureWarnings(() => Policy.create(configs[0]));
  assert.equal(auto.device, "cpu");
  assert.equal(auto.deviceNote, undefined);
  assert.deepEqual(warnings, []);
  const bf = await Policy.create({ ...configs[0], device: "auto", precision: "bf16" });
  assert.equal(bf.precision, "fp32");
  assert.match(bf.deviceNote ?? "", /bf16/);
});

test("with a CUDA device, device cuda agrees with the CPU backend (fp32 tight, bf16 looser) and checkpoints move between them", {
  skip: hasGpu ? false : `no CUDA device (${backends.cudaReason})`,
}, async () => {
  for (const cfg of configs) {
    for (const precision of ["fp32", "bf16"] as const) {
      const tol = precision === "fp32" ? 2e-4 : 6e-2;
      const gpu = await Policy.create({ ...cfg, device: "cuda", precision });
      const cpu = await Policy.create({ ...cfg, device: "cpu" });
      assert.equal(gpu.device, "cuda");
      assert.equal(gpu.precision, precision);
      assert.equal(gpu.deviceNote, undefined);
      const [lg, lc] = [await gpu.logprobs(batch), await cpu.logprobs(batch)];
      close(lg.logprobs, lc.logprobs, tol, `${cfg.family} ${precision} logprobs`);
      close(lg.entropy, lc.entropy, tol, `${cfg.family} ${precision} entropy`);
      for (let i = 0; i < 3; i++) {
        const [sg, sc] = [await gpu.trainStep(batch, train), await cpu.trainStep(batch, train)];
        assert.ok(Math.abs(sg.loss - sc.loss) <= tol * 10 * Math.max(1, Math.abs(sc.loss)), `step ${i} loss ${sg.loss} vs ${sc.loss}`);
        assert.equal(sg.step, sc.step);
        assert.equal(sg.lr, sc.lr);
      }
      close(
        (await gpu.logprobs(batch)).logprobs,
        (await cpu.logprobs(batch)).logprobs,
        tol * 20,
        `${cfg.family} ${precision} logprobs after 3 steps`,
      );
      if (precision === "fp32") {
        const greedy = { n: 2, maxTokens: 12, temperature: 0 };
        assert.deepEqual((await gpu.generate(batch.prompts, greedy)).tokens, (await cpu.generate(batch.prompts, greedy)).tokens);
      }
      // a checkpoint written from the device resumes on the CPU exactly where the device stopped
      const path = join(dir, `${cfg.family}-${precision}.safetensors`);
      await gpu.save(path);
      const onCpu = await Policy.load(path, { device: "cpu" });
      const back = await Policy.load(path, { device: "cuda", precision });
      assert.equal(onCpu.step, 3);
      assert.equal(back.device, "cuda");
      close((await onCpu.logprobs(batch)).logprobs, (await gpu.logprobs(batch)).logprobs, tol, "cpu copy of device weights");
      assert.deepEqual((await back.logprobs(batch)).logprobs, (await gpu.logprobs(batch)).logprobs);
      const ref = gpu.clone();
      assert.equal(ref.device, "cuda");
      const withKl = await gpu.trainStep(batch, { ...train, klBeta: 0.1, reference: ref });
      assert.ok(Number.isFinite(withKl.kl) && withKl.kl >= 0);
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(gpu.trainStep(batch, { ...train, signal: ac.signal }), { name: "AbortError" });
    }
  }
});

// Named LoRA adapters over one frozen base (one per agent): each adapter's gradients match float64
// finite differences with another adapter parked, adapters trained on their own data diverge while
// the base and the untouched adapters stay as they were, each keeps its own AdamW state and step
// count, checkpoints keep them all, and each moves in PEFT's format.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Policy, PolicyAdapter, loadAddon, type PolicyConfig } from "../src/native/index.js";
import { GRADCHECK_BATCH, assertGradientsMatch, gradcheckConfig } from "./helpers/gradcheck.js";

const addon = loadAddon();

for (const adapter of ["planner", "coder"]) {
  test(`adapter "${adapter}": gradients match float64 finite differences with the default adapter parked`, () => {
    const cfg = gradcheckConfig("llama", { lora: { rank: 2, alpha: 3, dropout: 0, targets: ["q_proj", "v_proj", "o_proj", "down_proj"] } });
    const r = addon.gradcheck(cfg, GRADCHECK_BATCH, {
      loss: "grpo",
      klBeta: 0.1,
      entropyCoef: 0.05,
      clipLow: 0.9,
      clipHigh: 10,
      seed: 3,
      adapter,
    });
    assert.equal(r.checked, 2 * (32 + 24 + 32 + 40));
    assertGradientsMatch(r, `adapter ${adapter}`);
  });
}

const cfg: PolicyConfig = {
  family: "llama",
  layers: 2,
  dModel: 16,
  heads: 4,
  kvHeads: 2,
  vocab: 32,
  ctx: 32,
  seed: 9,
  device: "cpu",
  tieEmbeddings: false,
  lora: { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] },
};
const plannerData = {
  prompts: [
    [1, 2, 3],
    [4, 5],
  ],
  responses: [
    [6, 7, 8, 9],
    [10, 11, 12],
  ],
};
const coderData = {
  prompts: [
    [1, 2, 3],
    [4, 5],
  ],
  responses: [
    [20, 21, 22, 23],
    [24, 25, 26],
  ],
};
const probe = {
  prompts: [
    [1, 2, 3],
    [4, 5],
  ],
  responses: [
    [6, 7, 8, 9],
    [24, 25, 26],
  ],
};
const sum = (xs: number[][]) => xs.flat().reduce((a, b) => a + b, 0);

test("two adapters trained on their own calls diverge; the base, the default adapter and the optimizer states stay apart", {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-adapters-"));
  const policy = await Policy.create(cfg);
  try {
    const base = (await policy.logprobs(probe)).logprobs;
    const planner = policy.adapter("planner"),
      coder = policy.adapter("coder");
    assert.ok(planner instanceof PolicyAdapter);
    assert.deepEqual((await planner.logprobs(probe)).logprobs, base, "a fresh adapter (B = 0) leaves the base's outputs");
    const p0 = (await planner.logprobs(plannerData)).logprobs,
      c0 = (await coder.logprobs(coderData)).logprobs;
    for (let i = 0; i < 4; i++) {
      await planner.trainStep(plannerData, { loss: "sft", lr: 5e-2 });
      await coder.trainStep(coderData, { loss: "sft", lr: 5e-2 });
    }
    await planner.trainStep(plannerData, { loss: "sft", lr: 5e-2 });
    assert.deepEqual(policy.adapters(), { default: 0, planner: 5, coder: 4 }, "each adapter counts its own steps");
    assert.equal(planner.step, 5);
    assert.equal(policy.step, 0);
    // each learned its own data, and only its own
    const pp = sum((await planner.logprobs(plannerData)).logprobs),
      cc = sum((await coder.logprobs(coderData)).logprobs);
    assert.ok(pp > sum(p0) + 0.3, `planner learned its responses: ${sum(p0)} -> ${pp}`);
    assert.ok(cc > sum(c0) + 0.3, `coder learned its responses: ${sum(c0)} -> ${cc}`);
    assert.ok(pp > sum((await coder.logprobs(plannerData)).logprobs) + 0.3, "planner's responses are the planner's");
    assert.ok(cc > sum((await planner.logprobs(coderData)).logprobs) + 0.3, "coder's responses are the coder's");
    const pl = (await planner.logprobs(probe)).logprobs,
      co = (await coder.logprobs(probe)).logprobs;
    assert.notDeepEqual(pl, co);
    assert.deepEqual((await policy.logprobs(probe)).logprobs, base, "the default adapter and the frozen base are untouched");
    const gen = await coder.generate([[1, 2, 3]], { maxTokens: 4, temperature: 0 });
    const teacher = await coder.logprobs({ prompts: [[1, 2, 3]], responses: gen.tokens });
    gen.logprobs[0].forEach((x, i) => assert.ok(Math.abs(x - teacher.logprobs[0][i]) < 1e-5, "generate's logprobs are the adapter's"));
    // parked adapters are counted in memory(): three adapters' weights, two adapters' moments
    const m = policy.memory()!;
    assert.equal(m.weights, 4 * (policy.numParams + 2 * policy.trainableParams));
    assert.equal(m.optimizer, 8 * 2 * policy.trainableParams);

    // a checkpoint holds every adapter with its moments and step: the next steps match exactly
    await policy.save(join(dir, "ckpt.safetensors"));
    const loaded = await Policy.load(join(dir, "ckpt.safetensors"), { device: "cpu" });
    assert.deepEqual(loaded.adapters(), policy.adapters());
    assert.deepEqual((await loaded.adapter("planner").logprobs(probe)).logprobs, pl);
    assert.deepEqual((await loaded.adapter("coder").logprobs(probe)).logprobs, co);
    const a = await coder.trainStep(coderData, { loss: "sft", lr: 5e-2 });
    const b = await loaded.adapter("coder").trainStep(coderData, { loss: "sft", lr: 5e-2 });
    assert.equal(b.loss, a.loss);
    assert.deepEqual((await loaded.adapter("coder").logprobs(probe)).logprobs, (await coder.logprobs(probe)).logprobs);
    assert.deepEqual((await loaded.logprobs(probe)).logprobs, base);

    // PEFT: each adapter saves on its own and loads over the base, or into another name
    await policy.saveHF(join(dir, "base"));
    await planner.saveAdapter(join(dir, "planner"));
    await coder.saveAdapter(join(dir, "coder"));
    const ac = JSON.parse(readFileSync(join(dir, "coder", "adapter_config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(ac.peft_type, "LORA");
    const again = await Policy.fromPretrained(join(dir, "base"), { device: "cpu", adapter: join(dir, "planner") });
    assert.deepEqual((await again.logprobs(probe)).logprobs, pl);
    await again.adapter("coder").loadAdapter(join(dir, "coder"));
    const coNow = (await coder.logprobs(probe)).logprobs;
    assert.deepEqual((await again.adapter("coder").logprobs(probe)).logprobs, coNow);
    const merged = await coder.mergeAdapter();
    const mm = (await merged.logprobs(probe)).logprobs.flat();
    coNow.flat().forEach((x, i) => assert.ok(Math.abs(x - mm[i]) < 1e-5, `merged coder logprob ${i}`));

    await policy.removeAdapter("planner");
    assert.deepEqual(Object.keys(policy.adapters()).sort(), ["coder", "default"]);
    for (const p of [loaded, again, merged]) await p.dispose();
  } finally {
    await policy.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("adapter names and adapters without LoRA are refused with clear errors", { timeout: 30_000 }, async () => {
  const plain = await Policy.create({ ...cfg, lora: undefined });
  assert.throws(() => plain.adapter("planner"), /named adapters need LoRA/);
  await assert.rejects(plain.generate([[1]], { adapter: "planner" }), /named adapters need LoRA/);
  await plain.dispose();
  const p = await Policy.create(cfg);
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (name) => {
      const ok = /^[A-Za-z0-9_.:/-]{1,64}$/.test(name);
      try {
        p.adapter(name);
        return ok;
      } catch (e) {
        return !ok && /adapter must be/.test((e as Error).message);
      }
    }),
  );
  await assert.rejects(p.removeAdapter("default"), /cannot be removed/);
  await assert.rejects(p.trainStep(plannerData, { loss: "sft", adapter: "has space" }), /adapter must be/);
  await p.dispose();
});

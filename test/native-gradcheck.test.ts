// Hand-written backward vs float64 central differences, both families, every loss term.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadAddon, type GradCheckResult } from "../src/native/index.js";
import { GRADCHECK_BATCH, assertGradientsMatch, gradcheckConfig } from "./helpers/gradcheck.js";

const addon = loadAddon();

const configs = { gpt2: gradcheckConfig("gpt2"), qwen2: gradcheckConfig("qwen2") };
const batch = GRADCHECK_BATCH;

function check(r: GradCheckResult, what: string) {
  assert.ok(r.checked > 500, `${what}: checked ${r.checked} parameters`);
  assertGradientsMatch(r, what);
  assert.ok(r.maxAbsErrF64 < 1e-6, `${what}: fp64 worst element ${r.maxAbsErrF64}`);
}

for (const [family, cfg] of Object.entries(configs)) {
  test(`${family}: GRPO loss with KL and entropy terms matches float64 finite differences`, () => {
    const r = addon.gradcheck(cfg, batch, { loss: "grpo", klBeta: 0.1, entropyCoef: 0.05, clipLow: 0.9, clipHigh: 10, seed: 3 });
    check(r, `${family} grpo`);
  });

  test(`${family}: SFT loss with seq-mean-token-mean aggregation matches finite differences`, () => {
    const r = addon.gradcheck(cfg, batch, { loss: "sft", aggregation: "seq-mean-token-mean", seed: 4 });
    check(r, `${family} sft`);
  });

  test(`${family}: seq-mean-token-sum-norm aggregation matches finite differences`, () => {
    const r = addon.gradcheck(cfg, batch, { loss: "grpo", aggregation: "seq-mean-token-sum-norm", clipLow: 0.9, clipHigh: 10, seed: 5 });
    check(r, `${family} sum-norm`);
  });
}

test("tokens whose ratio is clipped pass no gradient", () => {
  // positive advantages and ratios far above 1 + clipHigh: every token takes the clipped branch
  const clippedBatch = { ...batch, advantages: Float64Array.from([1, 2, 0.5]), oldLogprobs: new Float64Array(6).fill(-6) };
  const clipped = addon.gradcheck(configs.gpt2, clippedBatch, { loss: "grpo", clipLow: 0.2, clipHigh: 0.2, seed: 6, stride: 3 });
  assert.ok(clipped.gradNorm < 1e-9, `finite differences see a flat loss (${clipped.gradNorm})`);
  const open = addon.gradcheck(configs.gpt2, clippedBatch, { loss: "grpo", clipLow: 0.2, clipHigh: 1000, seed: 6, stride: 3 });
  assert.ok(open.gradNorm > 1e-3 && open.relErrF32 < 1e-3, `without the clip the same batch has a gradient (${open.gradNorm})`);
});

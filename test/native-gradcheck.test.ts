// Hand-written backward vs float64 central differences, both families, every loss term.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadAddon, type GradCheckResult } from "../src/native/index.js";

const addon = loadAddon();

// Two sequences of different lengths (no padding), GQA for qwen2 and an untied head.
const configs = {
  gpt2: {
    family: "gpt2",
    layers: 2,
    dModel: 8,
    heads: 2,
    kvHeads: 2,
    vocab: 11,
    ctx: 16,
    ffn: 12,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
  },
  qwen2: {
    family: "qwen2",
    layers: 2,
    dModel: 8,
    heads: 2,
    kvHeads: 1,
    vocab: 11,
    ctx: 16,
    ffn: 12,
    normEps: 1e-6,
    ropeTheta: 10000,
    tieEmbeddings: false,
  },
} as const;

const batch = {
  tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 10]),
  promptLens: Int32Array.from([2, 3, 1]),
  responseLens: Int32Array.from([4, 1, 1]),
  advantages: Float64Array.from([0.7, -1.1, 0.4]),
  // old logprobs differ from the current ones so ratios are not 1; clip range wide enough to stay differentiable
  oldLogprobs: Float64Array.from([-2.3, -2.5, -2.2, -2.4, -2.6, -2.1]),
  refLogprobs: Float64Array.from([-2.0, -2.9, -2.4, -2.1, -2.3, -2.5]),
  mask: Float64Array.from([1, 0, 1, 1, 1, 1]),
};

function check(r: GradCheckResult, what: string) {
  assert.ok(r.checked > 500, `${what}: checked ${r.checked} parameters`);
  assert.ok(r.gradNorm > 1e-3, `${what}: gradient must not vanish (norm ${r.gradNorm})`);
  assert.ok(r.relErrF32 < 1e-3, `${what}: fp32 relative error ${r.relErrF32}`);
  assert.ok(r.relErrF64 < 1e-6, `${what}: fp64 relative error ${r.relErrF64}`);
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

// What the native gradient checks share: a tiny model shape per family, a batch of three sequences of
// different lengths (no padding), and the tolerances a hand-written backward must meet against float64
// central differences.
import assert from "node:assert/strict";
import type { GradCheckResult } from "../../src/native/index.js";

/** A 2-layer, dModel 8 model of `family` (GQA for qwen2/llama, an untied head), with `extra` on top (e.g. lora). */
export function gradcheckConfig<E extends object = object>(family: "gpt2" | "qwen2" | "llama", extra?: E) {
  const gpt2 = family === "gpt2";
  return {
    family,
    layers: 2,
    dModel: 8,
    heads: 2,
    kvHeads: gpt2 ? 2 : 1,
    vocab: 11,
    ctx: 16,
    ffn: 12,
    normEps: gpt2 ? 1e-5 : 1e-6,
    ropeTheta: 10000,
    tieEmbeddings: gpt2,
    ...extra,
  } as const;
}

export const GRADCHECK_BATCH = {
  tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 10]),
  promptLens: Int32Array.from([2, 3, 1]),
  responseLens: Int32Array.from([4, 1, 1]),
  advantages: Float64Array.from([0.7, -1.1, 0.4]),
  // old logprobs differ from the current ones so ratios are not 1; clip range wide enough to stay differentiable
  oldLogprobs: Float64Array.from([-2.3, -2.5, -2.2, -2.4, -2.6, -2.1]),
  refLogprobs: Float64Array.from([-2.0, -2.9, -2.4, -2.1, -2.3, -2.5]),
  mask: Float64Array.from([1, 0, 1, 1, 1, 1]),
};

/** The gradient does not vanish and matches finite differences: fp32 within 1e-3, fp64 within 1e-6 (relative). */
export function assertGradientsMatch(r: GradCheckResult, what: string): void {
  assert.ok(r.gradNorm > 1e-3, `${what}: gradient must not vanish (norm ${r.gradNorm})`);
  assert.ok(r.relErrF32 < 1e-3, `${what}: fp32 relative error ${r.relErrF32}`);
  assert.ok(r.relErrF64 < 1e-6, `${what}: fp64 relative error ${r.relErrF64}`);
}

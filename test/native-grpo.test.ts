// GRPO identities and sampler consistency on tiny policies of both families.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Policy, groupAdvantages, type PolicyConfig } from "../src/native/index.js";

const tiny: Record<string, PolicyConfig> = {
  gpt2: { family: "gpt2", layers: 2, dModel: 32, heads: 4, vocab: 40, ctx: 48, seed: 7 },
  qwen2: { family: "qwen2", layers: 2, dModel: 32, heads: 4, kvHeads: 2, vocab: 40, ctx: 48, seed: 7, tieEmbeddings: false },
};
const prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9]];

async function sampled(policy: Policy, n = 4, seed = 11) {
  const g = await policy.generate(prompts, { n, temperature: 1, maxTokens: 8, seed });
  return { g, prompts: g.promptIndex.map((p) => prompts[p]) };
}

for (const [family, cfg] of Object.entries(tiny)) {
  test(`${family}: sampler logprobs equal teacher-forced logprobs within 1e-5`, async () => {
    const policy = await Policy.create(cfg);
    const { g, prompts: ps } = await sampled(policy, 3, 5);
    const tf = await policy.logprobs({ prompts: ps, responses: g.tokens });
    let worst = 0;
    g.logprobs.forEach((row, i) => row.forEach((lp, j) => (worst = Math.max(worst, Math.abs(lp - tf.logprobs[i][j])))));
    assert.ok(g.generatedTokens > 30, "enough tokens compared");
    assert.ok(worst < 1e-5, `largest difference ${worst}`);
  });

  test(`${family}: greedy decoding with and without the KV cache gives identical tokens`, async () => {
    const policy = await Policy.create(cfg);
    const a = await policy.generate(prompts, { temperature: 0, maxTokens: 20 });
    const b = await policy.generate(prompts, { temperature: 0, maxTokens: 20, useCache: false });
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.tokens[0].length, 20);
  });

  test(`${family}: first GRPO step has ratio 1 and clip fraction 0 with the sampler's logprobs`, async () => {
    const policy = await Policy.create(cfg);
    const { g, prompts: ps } = await sampled(policy);
    const rewards = g.tokens.map((t) => t.filter((x) => x % 2 === 0).length);
    const st = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards, groupSize: 4, oldLogprobs: g.logprobs }, { lr: 1e-2 });
    assert.ok(Math.abs(st.ratioMean - 1) < 1e-5, `ratio ${st.ratioMean}`);
    assert.equal(st.clipFrac, 0);
    assert.ok(st.gradNorm > 0);
    // after a large step the same old logprobs give ratios away from 1
    const st2 = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards, groupSize: 4, oldLogprobs: g.logprobs }, { lr: 1e-2 });
    assert.ok(Math.abs(st2.ratioMean - 1) > 1e-4, `second step ratio ${st2.ratioMean}`);
  });

  test(`${family}: KL to a reference equal to the policy is exactly 0`, async () => {
    const policy = await Policy.create(cfg);
    const reference = policy.clone();
    const { g, prompts: ps } = await sampled(policy);
    const rewards = g.tokens.map((t) => t[0] % 3);
    const st = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards, groupSize: 4 }, { klBeta: 0.5, reference });
    assert.equal(st.kl, 0);
    // the step moved the policy, so the KL is now positive
    const st2 = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards, groupSize: 4 }, { klBeta: 0.5, reference });
    assert.ok(st2.kl > 0, `kl after a step ${st2.kl}`);
  });

  test(`${family}: a group whose rewards are all equal gives zero gradient and leaves the weights unchanged`, async () => {
    const policy = await Policy.create(cfg);
    const { g, prompts: ps } = await sampled(policy);
    const before = await policy.logprobs({ prompts: ps, responses: g.tokens });
    const st = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards: g.tokens.map(() => 0.5), groupSize: 4 }, { lr: 0.1 });
    assert.equal(st.gradNorm, 0);
    assert.deepEqual(
      st.advantages,
      g.tokens.map(() => 0),
    );
    const after = await policy.logprobs({ prompts: ps, responses: g.tokens });
    assert.deepEqual(after.logprobs, before.logprobs);
  });

  test(`${family}: seq-mean-token-mean loss is 0 over whole groups at ratio 1`, async () => {
    const policy = await Policy.create(cfg);
    const { g, prompts: ps } = await sampled(policy);
    const rewards = g.tokens.map((_, i) => (i * 7) % 5);
    const st = await policy.trainStep({ prompts: ps, responses: g.tokens, rewards, groupSize: 4 }, { aggregation: "seq-mean-token-mean" });
    assert.ok(Math.abs(st.loss) < 1e-6, `loss ${st.loss}`);
    assert.ok(st.gradNorm > 0, "but the gradient is not zero");
  });
}

test("group advantages: GRPO z-scores with unbiased std, Dr. GRPO without std, RLOO leave-one-out", () => {
  const rewards = [1, 0, 0, 1, 3, 3, 3, 7];
  const groups = [0, 0, 0, 0, 1, 1, 1, 1];
  const z = groupAdvantages(rewards, groups, { epsilon: 0 });
  const sd = Math.sqrt((4 * 0.25) / 3);
  assert.ok(Math.abs(z[0] - 0.5 / sd) < 1e-12 && Math.abs(z[1] + 0.5 / sd) < 1e-12);
  const centred = groupAdvantages(rewards, groups, { normalizeStd: false });
  assert.deepEqual(centred.slice(4), [-1, -1, -1, 3]);
  const rloo = groupAdvantages(rewards, groups, { estimator: "rloo" });
  assert.ok(Math.abs(rloo[7] - (7 - 3)) < 1e-12 && Math.abs(rloo[4] - (3 - 13 / 3)) < 1e-12);
});

test("loss aggregation modes and metrics follow their definitions (checked against teacher-forced logprobs)", async () => {
  const policy = await Policy.create(tiny.qwen2);
  const b = { prompts: [[1, 2], [3], [4, 5, 6]], responses: [[7, 8, 9, 10], [11], [12, 13]], mask: [[1, 1, 0, 1], [1], [1, 1]] };
  const { logprobs, entropy } = await policy.logprobs(b);
  const seqs = logprobs.map((row, s) => row.map((lp, t) => ({ lp, h: entropy[s][t], m: b.mask[s][t] })));
  const masked = seqs.flat().filter((x) => x.m === 1);
  const tokenMean = -masked.reduce((a, x) => a + x.lp, 0) / masked.length;
  const seqMean =
    seqs.reduce((a, row) => a + -row.filter((x) => x.m).reduce((u, x) => u + x.lp, 0) / row.filter((x) => x.m).length, 0) / seqs.length;
  const sumNorm = seqs.reduce((a, row) => a + -row.filter((x) => x.m).reduce((u, x) => u + x.lp, 0), 0) / 4;
  const meanEntropy = masked.reduce((a, x) => a + x.h, 0) / masked.length;
  const cases = [
    ["token-mean", tokenMean],
    ["seq-mean-token-mean", seqMean],
    ["seq-mean-token-sum-norm", sumNorm],
  ] as const;
  for (const [aggregation, expected] of cases) {
    const st = await policy.clone().trainStep(b, { loss: "sft", aggregation });
    assert.ok(Math.abs(st.loss - expected) < 1e-9, `${aggregation}: ${st.loss} vs ${expected}`);
    assert.ok(Math.abs(st.entropy - meanEntropy) < 1e-9, `entropy ${st.entropy} vs ${meanEntropy}`);
  }
  // GRPO at ratio 1: token-mean loss = -(sum of A over masked tokens) / masked tokens
  const adv = [0.5, -1, 2];
  const st = await policy.clone().trainStep({ ...b, advantages: adv }, { loss: "grpo", entropyCoef: 0.1 });
  const pg = -seqs.reduce((a, row, s) => a + row.filter((x) => x.m).length * adv[s], 0) / masked.length;
  assert.ok(Math.abs(st.loss - (pg - 0.1 * meanEntropy)) < 1e-9, `grpo loss ${st.loss}`);
});

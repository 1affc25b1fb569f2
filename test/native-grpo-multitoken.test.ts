// GRPO on answers of several tokens. Why two-token answers used to stall
// (bench/RESULTS.md, "multi-token GRPO"): not an alignment bug (sampler and
// teacher-forced logprobs agree, masks and aggregation are exact) but the
// optimizer. Every token of a sequence carries the sequence's advantage, so
// tokens the reward does not depend on add zero-mean gradient noise; AdamW
// normalises each step to about lr per weight whatever the signal, and at
// lr 5e-3 / beta2 0.99 that noise alone drives the sampling entropy to
// collapse. Once a prompt's samples all agree its group advantage is 0, so a
// collapse onto a context-free answer never recovers. The fix is a step size
// that noise cannot collapse plus an entropy bonus that keeps exploring until
// the prompt is read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Policy } from "../src/native/index.js";

const PLUS = 10,
  EQ = 11,
  EOS = 12;
const config = { family: "qwen2", layers: 2, dModel: 32, heads: 2, kvHeads: 1, vocab: 13, ctx: 8 } as const;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mean sampling entropy after `steps` GRPO steps whose rewards ignore the samples (zero expected gradient). */
async function entropyUnderNoise(opts: { lr: number; beta2: number }, steps: number): Promise<{ first: number; last: number }> {
  const policy = await Policy.create({ ...config, seed: 3 });
  const prompts: number[][] = [];
  for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) prompts.push([a, PLUS, b, EQ]);
  const rand = mulberry32(99);
  let first = NaN,
    last = NaN;
  for (let step = 0; step < steps; step++) {
    // seeds spaced by more than maxTokens: consecutive seeds share all but one draw of each sample's stream
    const g = await policy.generate(prompts, { n: 8, temperature: 1, maxTokens: 2, stop: [EOS], seed: 7 + step * 3 });
    const rewards = g.tokens.map(() => (rand() < 0.5 ? 1 : 0));
    const st = await policy.trainStep(
      { prompts: g.promptIndex.map((p) => prompts[p]), responses: g.tokens, rewards, groupSize: 8, oldLogprobs: g.logprobs },
      { loss: "grpo", lr: opts.lr, beta2: opts.beta2 },
    );
    if (step === 0) first = st.entropy;
    last = st.entropy;
  }
  await policy.dispose();
  return { first, last };
}

test("rewards that ignore the samples collapse the sampling entropy at lr 5e-3 / beta2 0.99 but not at lr 2e-3", async () => {
  const hot = await entropyUnderNoise({ lr: 5e-3, beta2: 0.99 }, 150);
  const calm = await entropyUnderNoise({ lr: 2e-3, beta2: 0.99 }, 150);
  // uniform over 13 tokens is ln 13 = 2.56; both start there
  assert.ok(hot.first > 2.3 && calm.first > 2.3, `start entropies ${hot.first}, ${calm.first}`);
  assert.ok(hot.last < 1.6, `lr 5e-3: entropy after 150 noise steps ${hot.last}`);
  assert.ok(calm.last > 2.0, `lr 2e-3: entropy after 150 noise steps ${calm.last}`);
});

// "a+b=" for a, b in 0..6: answers "0<eos>" .. "9<eos>" (2 tokens) and "10<eos>" .. "12<eos>" (3 tokens).
const tasks: number[][] = [];
for (let a = 0; a <= 6; a++) for (let b = 0; b <= 6; b++) tasks.push([a, PLUS, b, EQ]);
const target = (p: number[]) => [...String(p[0] + p[2])].map(Number).concat(EOS);
/** Share of the target's tokens matched before the first mistake: 1 only for the exact digits then the end token. */
function prefixReward(p: number[], answer: number[]): number {
  const y = target(p);
  let k = 0;
  while (k < y.length && answer[k] === y[k]) k++;
  return k / y.length;
}

async function greedyExact(policy: Policy): Promise<number> {
  const g = await policy.generate(tasks, { temperature: 0, maxTokens: 3, stop: [EOS] });
  return g.tokens.filter((t, i) => prefixReward(tasks[i], t) === 1).length / tasks.length;
}

test("GRPO teaches a tiny policy two-digit sums answered in 2-3 tokens, from chance to above 0.9 greedy exact match", async () => {
  const policy = await Policy.create({ ...config, seed: 1 });
  const start = await greedyExact(policy);
  assert.ok(start < 0.05, `starts at chance: ${start}`);
  const maxSteps = 1000;
  let final = start,
    steps = 0;
  for (let step = 0; step < maxSteps; step++) {
    const prompts = Array.from({ length: 16 }, (_, i) => tasks[(step * 16 + i * 7) % tasks.length]);
    const g = await policy.generate(prompts, { n: 8, temperature: 1, maxTokens: 3, stop: [EOS], seed: 12345 + step * 3 });
    const rewards = g.tokens.map((t, i) => prefixReward(prompts[g.promptIndex[i]], t));
    await policy.trainStep(
      { prompts: g.promptIndex.map((p) => prompts[p]), responses: g.tokens, rewards, groupSize: 8, oldLogprobs: g.logprobs },
      { loss: "grpo", lr: 2e-3, beta2: 0.99, entropyCoef: 0.2 },
    );
    steps = step + 1;
    if (steps % 50 === 0) {
      final = await greedyExact(policy);
      if (final > 0.9) break;
    }
  }
  assert.ok(final > 0.9, `greedy exact match after ${steps} steps: ${final} (start ${start})`);
  await policy.dispose();
});

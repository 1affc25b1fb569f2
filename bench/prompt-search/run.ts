// promptSearch's allocation against the plain alternative, measured in the same run: successive
// halving with early stop vs giving every candidate the same share of the budget, both judged by
// the same paired test (Bonferroni over the comparisons; halving also over its looks). Candidates
// are seeded coins, so the numbers are exact for this seed range and need no agent.
// Run: npx tsx bench/prompt-search/run.ts
import { createHash } from "node:crypto";
import { race } from "../../src/algorithm/prompt-search-race.js";
import { comparePaired } from "../../src/algorithm/prompt-search-stats.js";
import { shuffled } from "../../src/algorithm/policy-loop.js";

const coin = (p: number, ...key: unknown[]) =>
  createHash("sha256").update(JSON.stringify(key)).digest().readUInt32BE(0) / 2 ** 32 < p ? 1 : 0;

interface Outcome {
  correct: number;
  wrong: number;
  spent: number;
}

async function halving(p: number[], budget: number, seed: number): Promise<Outcome> {
  const r = await race(
    { candidates: p.length, taskCount: 200, budget, seed, incumbent: 0, confidence: 0.95, rewardRange: [0, 1] },
    async (cands, tasks, round) => cands.map((c) => tasks.map((t, i) => coin(p[c], seed, c, t, i, round))),
  );
  const best = p.indexOf(Math.max(...p));
  return { correct: r.separated && r.winner === best ? 1 : 0, wrong: r.separated && r.winner !== best ? 1 : 0, spent: r.spent };
}

function uniform(p: number[], budget: number, seed: number): Outcome {
  const per = Math.floor(budget / p.length);
  const tasks = shuffled(
    Array.from({ length: 200 }, (_, i) => i),
    seed,
  ).slice(0, per);
  const rewards = p.map((pc, c) => tasks.map((t, i) => coin(pc, seed, c, t, i, 0)));
  const means = rewards.map((r) => r.reduce((a, b) => a + b, 0) / r.length);
  const top = means.indexOf(Math.max(...means));
  const separated = top !== 0 && comparePaired(rewards[top], rewards[0], { confidence: 0.95, comparisons: p.length - 1 }).verdict === 1;
  const best = p.indexOf(Math.max(...p));
  return { correct: separated && top === best ? 1 : 0, wrong: separated && top !== best ? 1 : 0, spent: per * p.length };
}

const scenarios = [
  { name: "8 prompts, one better (0.70 vs 0.50)", p: [0.5, 0.5, 0.5, 0.7, 0.5, 0.5, 0.5, 0.5], budget: 480 },
  { name: "8 prompts, one much better (0.85 vs 0.50)", p: [0.5, 0.5, 0.5, 0.85, 0.5, 0.5, 0.5, 0.5], budget: 480 },
  { name: "4 prompts, graded (0.4/0.5/0.6/0.75)", p: [0.4, 0.5, 0.6, 0.75], budget: 240 },
  { name: "8 equal prompts (0.50): noise only", p: Array(8).fill(0.5), budget: 480 },
];
const seeds = 300;
console.log(`seeds 0..${seeds - 1}; confidence 0.95; incumbent = prompt 0`);
for (const s of scenarios) {
  const sh: Outcome = { correct: 0, wrong: 0, spent: 0 };
  const un: Outcome = { correct: 0, wrong: 0, spent: 0 };
  for (let seed = 0; seed < seeds; seed++) {
    const a = await halving(s.p, s.budget, seed);
    const b = uniform(s.p, s.budget, seed);
    for (const k of ["correct", "wrong", "spent"] as const) {
      sh[k] += a[k];
      un[k] += b[k];
    }
  }
  const f = (o: Outcome) =>
    `right winner ${((100 * o.correct) / seeds).toFixed(1)}%, wrong winner ${((100 * o.wrong) / seeds).toFixed(1)}%, rollouts ${(o.spent / seeds).toFixed(0)}`;
  console.log(`\n${s.name}, budget ${s.budget}`);
  console.log(`  halving : ${f(sh)}`);
  console.log(`  uniform : ${f(un)}`);
  if (un.correct)
    console.log(
      `  ratio   : right-winner rate x${(sh.correct / un.correct).toFixed(2)}, rollouts x${(sh.spent / un.spent).toFixed(2)} (halving / uniform)`,
    );
}

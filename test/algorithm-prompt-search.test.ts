// promptSearch's mechanics: intervals, the paired test, successive halving's
// budget, and that noise alone never replaces the incumbent. The agents here
// are scripted doubles whose reward is a seeded coin with a per-prompt bias.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { race } from "../src/algorithm/prompt-search-race.js";
import { comparePaired, scoreInterval } from "../src/algorithm/prompt-search-stats.js";

/** A reproducible coin: the same (key) always lands the same way. */
const coin = (p: number, ...key: unknown[]) =>
  createHash("sha256").update(JSON.stringify(key)).digest().readUInt32BE(0) / 2 ** 32 < p ? 1 : 0;

test("intervals never collapse after a few equal rewards, and narrow as evidence grows", () => {
  const three = scoreInterval([1, 1, 1]);
  assert.equal(three.mean, 1);
  assert.ok(three.lo < 0.5, `3 successes alone do not pin the mean: ${three.lo}`);
  const many = scoreInterval(Array(100).fill(1));
  assert.ok(many.lo > 0.95);
  const scaled = scoreInterval([0, 10, 5], { range: [0, 10] });
  assert.equal(scaled.mean, 5);
  assert.ok(scaled.lo >= 0 && scaled.hi <= 10);
  assert.throws(() => scoreInterval([2]), /outside the reward range \[0, 1\]/);
  assert.throws(() => scoreInterval([0.5], { range: [1, 1] }), /hi > lo/);
});

test("the paired test decides on tasks where prompts differ, and not on three lucky ones", () => {
  const a = [...Array(40).fill(0), ...Array(10).fill(1)];
  const b = Array(50).fill(0);
  assert.equal(comparePaired(a, b).verdict, 1, "10 wins, 0 losses, 40 ties");
  assert.equal(comparePaired(b, a).verdict, -1);
  assert.equal(comparePaired([1, 1, 1], [0, 0, 0]).verdict, 0);
  assert.throws(() => comparePaired([1], [1, 0]), /same tasks/);
});

test("property: the paired verdict is antisymmetric and an interval holds its mean", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })), { maxLength: 60 }), (pairs) => {
      const a = pairs.map((p) => p[0]);
      const b = pairs.map((p) => p[1]);
      assert.equal(comparePaired(a, b).verdict, -comparePaired(b, a).verdict || 0);
      if (a.length) {
        const s = scoreInterval(a);
        assert.ok(s.lo <= s.mean + 1e-12 && s.mean <= s.hi + 1e-12 && s.lo >= 0 && s.hi <= 1);
      }
    }),
  );
});

test("noise alone does not crown a winner: equal prompts keep the incumbent (20 seeds)", async () => {
  for (let seed = 0; seed < 20; seed++) {
    const r = await race(
      { candidates: 5, taskCount: 40, budget: 200, seed, incumbent: 0, confidence: 0.95, rewardRange: [0, 1] },
      async (cands, tasks, round) => cands.map((c) => tasks.map((t, i) => coin(0.5, seed, c, t, i, round))),
    );
    assert.equal(r.winner, 0, `seed ${seed}: best #${r.best} ${r.candidates[r.best].mean} must not replace the incumbent`);
    assert.equal(r.separated, false);
    assert.ok(r.spent <= 200);
  }
});

test("a clearly better prompt wins, early, on fewer rollouts than the budget", async () => {
  const p = [0.4, 0.45, 0.75, 0.4, 0.5, 0.4];
  const r = await race(
    { candidates: p.length, taskCount: 50, budget: 600, seed: 3, incumbent: 0, confidence: 0.95, rewardRange: [0, 1] },
    async (cands, tasks, round) => cands.map((c) => tasks.map((t) => coin(p[c], c, t, round))),
  );
  assert.equal(r.winner, 2);
  assert.equal(r.separated, true);
  assert.ok(r.spent < 600, `stopped once decided: spent ${r.spent}`);
  const dropped = r.candidates.filter((c) => c.eliminatedInRound !== null);
  assert.ok(dropped.length >= 2 && dropped.every((c) => c.n < r.candidates[2].n), "the weak half stopped getting rollouts");
});

test("property: budget is never exceeded, the incumbent is never eliminated, every candidate is tried", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 0, max: 1000 }),
      async (k, taskCount, extra, seed) => {
        const budget = k + extra;
        const incumbent = seed % k;
        let calls = 0;
        const r = await race(
          { candidates: k, taskCount, budget, seed, incumbent, confidence: 0.9, rewardRange: [0, 1] },
          async (cands, tasks) => {
            for (const t of tasks) assert.ok(Number.isInteger(t) && t >= 0 && t < taskCount);
            calls += cands.length * tasks.length;
            return cands.map((c) => tasks.map((t) => coin(0.5, seed, c, t)));
          },
        );
        assert.ok(r.spent <= budget && r.spent === calls);
        assert.equal(
          r.candidates.reduce((s, c) => s + c.n, 0),
          r.spent,
        );
        assert.equal(r.candidates[incumbent].eliminatedInRound, null);
        if (k > 1) for (const c of r.candidates) assert.ok(c.n >= 1, `candidate ${c.index} was tried`);
      },
    ),
    { numRuns: 60 },
  );
});

test("promptSearch runs real rollouts per candidate resource, stays in budget and publishes the winner", { timeout: 30_000 }, async () => {
  const store = await agl.openStore();
  // The scripted agent's reward depends on the prompt it is given: only "Show your work" helps.
  const agent = agl.rollout(async (task: { id: number }, ctx) => {
    const text = agl.formatPrompt(ctx.resources.prompt_template as agl.PromptTemplate, task);
    return coin(text.includes("Show your work") ? 0.9 : 0.3, text, task.id);
  });
  const tasks = Array.from({ length: 40 }, (_, id) => ({ id }));
  const candidates = ["Solve task {id}.", "Solve task {id}. Be brief.", "Solve task {id}. Show your work.", "Task {id}:"];
  const trainer = new agl.Trainer({
    store,
    nRunners: 4,
    log: () => {},
    algorithm: agl.algorithms.promptSearch({ candidates, budget: 160, seed: 1 }),
  });
  const r = await trainer.fit<agl.algorithms.PromptSearchResult>(agent, { train: [], val: tasks });
  assert.equal(r.winner, 2);
  assert.equal(r.winnerTemplate, candidates[2]);
  const evals = (await store.queryRollouts()).filter((x) => x.metadata.algorithm === "prompt-search" && x.metadata.kind !== "algorithm");
  assert.equal(evals.length, r.spent);
  assert.ok(r.spent <= 160);
  for (const c of r.candidates) {
    const own = evals.filter((x) => x.resourcesId === c.resourcesId);
    assert.equal(own.length, c.n, `candidate ${c.index}: rollouts under its own resources`);
    assert.equal(((await store.getResourcesById(c.resourcesId))!.resources.prompt_template as agl.PromptTemplate).template, c.template);
  }
  assert.equal(((await store.getLatestResources())!.resources.prompt_template as agl.PromptTemplate).template, candidates[2]);
  const scoreRows = (await store.querySpans({ rolloutId: r.logRolloutId })).filter((s) => s.name === "arclight.prompt_search.score");
  assert.equal(scoreRows.length, candidates.length);
  await store.close();
});

test("promptSearch rejects bad options with a clear message", () => {
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["only one"], budget: 10 }), /at least two candidates/);
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["a", "a"], budget: 10 }), /same prompt as candidate 0/);
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["a", "b"], budget: 10, incumbent: 5 }), /incumbent 5/);
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["a", "b", "c"], budget: 2 }), /less than one rollout per candidate/);
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["a", ""], budget: 10 }), /must not be empty/);
  assert.throws(() => agl.algorithms.promptSearch({ candidates: ["a", "b"], budget: 10, rewardRange: [1, 0] }), /hi > lo/);
});

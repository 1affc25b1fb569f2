// APO's reflective (GEPA-style) variant: Pareto-front bookkeeping, the minibatch gate, and
// resume. The optimizer and the agent's model are the scripted stand-in for a hosted LLM
// (test/helpers/scripted-optimizer.ts), which this machine cannot reach.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { paretoFront, sampleParent } from "../src/algorithm/apo-reflective.js";
import { startScriptedOptimizer } from "./helpers/scripted-optimizer.js";

test("the Pareto front keeps every prompt that is best somewhere and drops dominated ones", () => {
  const front = paretoFront([
    { id: "a", scores: [1, 0, 0, 1] },
    { id: "b", scores: [0, 1, 0, 1] },
    { id: "c", scores: [0, 0, 0, 1] }, // dominated by a and b
    { id: "d", scores: [1, 0, 0, 1] }, // same as a: a stands for it
  ]);
  assert.deepEqual(front, [
    { id: "a", wins: 1 },
    { id: "b", wins: 1 },
  ]);
  assert.equal(sampleParent([{ id: "x", wins: 0 }], 3), "x");
  const draws = Array.from({ length: 400 }, (_, i) =>
    sampleParent(
      [
        { id: "x", wins: 1 },
        { id: "y", wins: 3 },
      ],
      i,
    ),
  );
  const ys = draws.filter((d) => d === "y").length / draws.length;
  assert.ok(ys > 0.65 && ys < 0.85, `parents drawn in proportion to wins: ${ys}`);
});

test("property: front members are not dominated, and each informative task's best is on the front", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 7 }),
      (n, rows) => {
        const pool = rows.map((r, i) => ({ id: `p${i}`, scores: r.slice(0, n) }));
        const front = paretoFront(pool);
        assert.ok(front.length >= 1);
        const get = (id: string) => pool.find((p) => p.id === id)!;
        for (const f of front) {
          const a = get(f.id);
          assert.ok(!pool.some((b) => b.scores.every((s, t) => s >= a.scores[t]) && b.scores.some((s, t) => s > a.scores[t])));
        }
        for (let t = 0; t < n; t++) {
          const max = Math.max(...pool.map((p) => p.scores[t]));
          assert.ok(
            front.some((f) => get(f.id).scores[t] === max),
            `task ${t}`,
          );
        }
      },
    ),
  );
});

type Task = { a: number; b: number };
const tasks: Task[] = Array.from({ length: 60 }, (_, i) => ({ a: 10 + ((i * 37) % 50), b: 10 + ((i * 53) % 47) }));
const agent = agl.rollout(async (task: Task, ctx) => {
  const prompt = agl.formatPrompt(ctx.resources.prompt_template as agl.PromptTemplate, task);
  const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none" });
  const r = await client.chat.completions.create({ model: ctx.llm!.model, messages: [{ role: "user", content: prompt }] });
  return r.choices[0]?.message.content?.trim() === String(task.a + task.b) ? 1 : 0;
});

test("reflective APO evolves the prompt through the minibatch gate, and resumes from the store", { timeout: 90_000 }, async () => {
  const scripted = await startScriptedOptimizer();
  const store = await agl.openStore();
  await store.addResources({ llm: { resourceType: "llm", endpoint: scripted.baseURL, model: "student", samplingParameters: {} } });
  const o = (extra: Partial<agl.algorithms.ApoOptions>): agl.algorithms.ApoOptions => ({
    optimizer: { baseURL: scripted.baseURL, apiKey: scripted.apiKey, model: scripted.model },
    prompt: "What is {a}+{b}?",
    reflective: true,
    rounds: 3,
    gradientBatchSize: 6,
    valBatchSize: 30,
    seed: 2,
    ...extra,
  });
  const fit = (opts: agl.algorithms.ApoOptions, signal?: AbortSignal) =>
    new agl.Trainer({ store, nRunners: 4, log: () => {}, algorithm: agl.algorithms.apo(opts) }).fit<agl.algorithms.ApoResult>(
      agent,
      { train: tasks.slice(0, 30), val: tasks.slice(30) },
      { signal },
    );
  try {
    const whole = await fit(o({ runId: "gepa-whole" }));
    assert.equal(whole.first.mean, 0);
    assert.ok(whole.best.lo > whole.first.hi, `best ${whole.best.template} ${whole.best.mean}`);
    assert.match(whole.best.template, /Reply with the number only\./);
    const h = (await agl.algorithms.apo.history(store, "gepa-whole"))!;
    assert.ok(h.rounds.every((r) => r.mode === "reflective"));
    assert.equal(h.critiques.length, 3, "one reflection per round");
    // a child is scored on the Pareto set only when it passed the minibatch gate
    for (const e of h.edits) {
      const scored = h.scores.some((s) => s.candidate === e.candidate && s.round === e.round);
      assert.equal(scored, e.rejected === null, `${e.candidate}: ${e.rejected}`);
    }
    for (const s of h.scores) assert.equal(s.taskScores!.length, 30, "every pool member is scored on every Pareto task");
    const evals = (await store.queryRollouts()).filter((x) => x.metadata.runId === "gepa-whole" && x.metadata.kind !== "algorithm");
    assert.equal(evals.length, whole.spent);

    const stop = new AbortController();
    await assert.rejects(
      fit(o({ runId: "gepa-resume", onRound: (r) => void (r.round === 1 && stop.abort(new Error("stop at 1"))) }), stop.signal),
      /stop at 1/,
    );
    const resumed = await fit(o({ runId: "gepa-resume", resume: true }));
    assert.equal(resumed.resumedAfterRound, 1);
    assert.equal(resumed.best.template, whole.best.template);
    assert.equal(resumed.spent, whole.spent);
    await assert.rejects(fit(o({ runId: "gepa-resume", resume: true, reflective: false })), /ran in reflective mode/);
  } finally {
    await store.close();
    await scripted.close();
  }
});

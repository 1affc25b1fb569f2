// Selective optimization of a multi-agent system: two agents ("planner", "solver") call the LLM proxy
// in one rollout, each under its own model name, served by its own LoRA adapter over one base. GRPO
// trains each listed adapter from its own agent's calls only; the others stay frozen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { Policy, type PolicyAdapter, type PolicyConfig } from "../src/native/index.js";
import { ARITHMETIC_POLICY, ArithmeticTokenizer, additionTasks, scoreAnswer, type AdditionTask } from "../src/examples/index.js";
import { shuffled } from "../src/algorithm/policy-loop.js";
import { GEN_AI } from "../src/types/index.js";

const tok = new ArithmeticTokenizer();
const tasks = additionTasks(2);
const ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

/**
 * The team: the planner looks at the task first (when `plans` says so), then the solver answers;
 * the reward is the solver's. Both ask the one endpoint they are given, each for its own model.
 */
function team(plans: (t: AdditionTask) => boolean) {
  return agl.rollout(
    async (task: AdditionTask, ctx) => {
      const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none", maxRetries: 0 });
      const sampling = ctx.llm!.samplingParameters as { temperature?: number; max_tokens?: number };
      const ask = (model: string, content: string) =>
        client.chat.completions.create({ model, messages: [{ role: "user", content }], ...sampling });
      if (plans(task)) await ask("planner", `${task.b}+${task.a}=`);
      const answer = await ask("solver", `${task.a}+${task.b}=`);
      agl.emitReward(scoreAnswer(task, answer.choices[0].message.content ?? ""));
    },
    { name: "team" },
  );
}

const prompts = tasks.map((t) => tok.encode(`${t.a}+${t.b}=`));
const answers = tasks.map((t) => [t.a + t.b]);
/** Exact expected reward of sampling one answer token at temperature 1: the mean probability of the right one. */
async function expectedReward(g: Policy | PolicyAdapter): Promise<number> {
  const { logprobs } = await g.logprobs({ prompts, responses: answers });
  return logprobs.reduce((s, lp) => s + Math.exp(lp[0]), 0) / tasks.length;
}

/** LLM spans of a step's train rollouts, counted by the model they were served under. */
async function callsByModel(store: agl.LightningStore, step: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const rollouts = (await store.queryRollouts({ mode: "train" })).filter((r) => (r.metadata as { step?: number }).step === step);
  for (const r of rollouts)
    for (const s of await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" })) {
      const model = s.attributes[GEN_AI.responseModel];
      if (typeof model === "string") out[model] = (out[model] ?? 0) + 1;
    }
  return out;
}

test("GRPO trains the solver's adapter from the solver's calls only: its reward rises, the planner's adapter and the base stay as they were", {
  timeout: 180_000,
}, async () => {
  // dModel 128: a frozen random base's head is wide enough for an adapter to move the answer's probability.
  const cfg: PolicyConfig = {
    ...ARITHMETIC_POLICY,
    dModel: 128,
    heads: 4,
    kvHeads: 2,
    seed: 1,
    device: "cpu",
    lora: { rank: 8, alpha: 16, targets: [...ALL_TARGETS] },
  };
  const policy = await Policy.create(cfg);
  const store = await agl.openStore();
  try {
    const planner = policy.adapter("planner"),
      solver = policy.adapter("solver");
    const probe = { prompts, responses: answers };
    const plannerBefore = (await planner.logprobs(probe)).logprobs;
    const baseBefore = (await policy.logprobs(probe)).logprobs;
    const rewardBefore = await expectedReward(solver);

    const steps = 25;
    const algorithm = agl.algorithms.grpo({
      policy,
      tokenizer: tok,
      policies: { planner, solver },
      train: ["solver"],
      steps,
      lr: 5e-2,
      beta2: 0.99,
      batchSize: tasks.length,
      groupSize: 8,
      maxTokens: 1,
      seed: 1,
      progress: false,
    });
    const t0 = performance.now();
    const r = await new agl.Trainer({ store, algorithm, nRunners: 4, log: () => {} }).fit(
      team(() => true),
      {
        train: tasks,
        val: tasks,
      },
    );
    const seconds = (performance.now() - t0) / 1000;

    assert.deepEqual(policy.adapters(), { default: 0, planner: 0, solver: steps }, "only the solver's adapter stepped");
    assert.deepEqual((await planner.logprobs(probe)).logprobs, plannerBefore, "the frozen planner's logprobs are unchanged");
    assert.deepEqual((await policy.logprobs(probe)).logprobs, baseBefore, "the base (default adapter) is unchanged");

    // every step trained on exactly the solver's calls of that step, though the planner called as often
    for (const m of r.history) {
      const calls = await callsByModel(store, m.step - 1);
      assert.deepEqual(calls, { planner: tasks.length * 8, solver: tasks.length * 8 }, `step ${m.step}'s calls`);
      assert.deepEqual(Object.keys(m.models ?? {}), ["solver"]);
      assert.equal(m.models!.solver.samples, calls.solver);
      assert.equal(m.samples, calls.solver);
    }
    const one = (await store.queryRollouts({ mode: "train" }))[0];
    assert.deepEqual(
      (await store.querySpans({ rolloutId: one.rolloutId })).filter((s) => s.name.startsWith("chat ")).map((s) => s.name),
      ["chat planner", "chat solver"],
      "each call is recorded under its model name",
    );

    const rewardAfter = await expectedReward(solver);
    const early = r.history.slice(0, 5).reduce((s, m) => s + m.rewardMean, 0) / 5;
    const late = r.history.slice(-5).reduce((s, m) => s + m.rewardMean, 0) / 5;
    console.log(
      `solver expected reward ${rewardBefore.toFixed(3)} -> ${rewardAfter.toFixed(3)}; train reward, first 5 steps ${early.toFixed(3)}, ` +
        `last 5 ${late.toFixed(3)}; greedy val ${r.before} -> ${r.after}; ${steps} steps in ${seconds.toFixed(1)} s`,
    );
    assert.ok(rewardAfter >= rewardBefore + 0.05, `solver's expected reward ${rewardBefore} -> ${rewardAfter}`);
    assert.equal(await expectedReward(planner), rewardBefore, "the planner answers as the untrained solver did");
  } finally {
    await store.close();
    await policy.dispose();
  }
});

test("with both agents trained, each adapter steps only when its agent made calls, on those calls alone, and a resumed fit finds its adapters again", {
  timeout: 120_000,
}, async () => {
  const policy = await Policy.create({
    ...ARITHMETIC_POLICY,
    seed: 2,
    device: "cpu",
    lora: { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] },
  });
  const store = await agl.openStore();
  const dir = await mkdtemp(join(tmpdir(), "arclight-grpo-adapters-"));
  let resumed: Policy | undefined;
  try {
    const planner = policy.adapter("planner"),
      solver = policy.adapter("solver");
    // The planner is only consulted on doubles (1+1=); batches of 3 from 9 tasks leave some steps without one.
    const plans = (t: AdditionTask) => t.a === t.b;
    const [steps, batchSize, groupSize, seed] = [6, 3, 4, 5];
    const expectedPlans = Array.from({ length: steps }, (_, s) => {
      const epoch = Math.floor(s / 3);
      return (
        shuffled(tasks, seed + epoch)
          .slice((s % 3) * batchSize, ((s % 3) + 1) * batchSize)
          .filter(plans).length * groupSize
      );
    });
    assert.ok(expectedPlans.includes(0) && expectedPlans.some((n) => n > 0), `planner calls per step ${expectedPlans}`);
    const stepped = (upTo: number) => expectedPlans.slice(0, upTo).filter((n) => n > 0).length;

    // Half the steps, then a second fit that resumes from the checkpoint (a new Policy, its adapters found by name).
    const fit = (upTo: number) =>
      new agl.Trainer({
        store,
        nRunners: 2,
        log: () => {},
        algorithm: agl.algorithms.grpo({
          policy,
          tokenizer: tok,
          policies: { planner, solver },
          steps: upTo,
          lr: 1e-2,
          batchSize,
          groupSize,
          maxTokens: 1,
          seed,
          checkpointDir: dir,
          progress: false,
        }),
      }).fit<agl.algorithms.GrpoResult>(team(plans), { train: tasks });
    const first = await fit(3);
    assert.deepEqual(policy.adapters(), { default: 0, planner: stepped(3), solver: 3 });
    const r = await fit(steps);
    resumed = r.policy;
    assert.notEqual(resumed, policy);
    assert.deepEqual(r.history.slice(0, 3), first.history);

    assert.deepEqual(
      r.history.map((m) => m.models!.planner.samples),
      expectedPlans,
      "the planner's samples are its own calls",
    );
    assert.deepEqual(
      r.history.map((m) => m.models!.solver.samples),
      Array(steps).fill(batchSize * groupSize),
    );
    for (const m of r.history) {
      const calls = await callsByModel(store, m.step - 1);
      assert.equal(calls.planner ?? 0, m.models!.planner.samples, `step ${m.step}: planner calls`);
      assert.equal(calls.solver, m.models!.solver.samples, `step ${m.step}: solver calls`);
    }
    assert.deepEqual(resumed.adapters(), { default: 0, planner: stepped(steps), solver: steps });
    assert.deepEqual(policy.adapters(), { default: 0, planner: stepped(3), solver: 3 }, "the resumed fit trained its own policy");
    // the metrics rows carry each model's part as its own columns
    const rows = (await store.querySpans({ rolloutId: r.metricsRolloutId })).filter(
      (s) => s.attributes["arclight.metric.phase"] === "train",
    );
    assert.deepEqual(
      rows.map((s) => s.attributes["arclight.metric.model.planner.samples"]),
      expectedPlans.slice(3),
    );
  } finally {
    await store.close();
    await policy.dispose();
    await resumed?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test("grpo's policies and train options are checked: adapters of the policy, served names only", async () => {
  const lora = { rank: 2, targets: ["q_proj" as const] };
  const policy = await Policy.create({ ...ARITHMETIC_POLICY, seed: 3, device: "cpu", lora });
  const other = await Policy.create({ ...ARITHMETIC_POLICY, seed: 3, device: "cpu", lora });
  try {
    const base = { policy, tokenizer: tok };
    const bad = (o: Partial<agl.algorithms.GrpoOptions>, re: RegExp) => assert.throws(() => agl.algorithms.grpo({ ...base, ...o }), re);
    bad({ policies: { planner: other.adapter("planner") } }, /must be an adapter of `policy`/);
    bad(
      { policies: { planner: policy.adapter("planner") }, train: ["critic"] },
      /critic is not served; served models: arclight-policy, planner/,
    );
    bad({ train: ["planner"] }, /planner is not served; served models: arclight-policy/);
    bad({ model: "planner", policies: { planner: policy.adapter("planner") } }, /planner is already `model`/);
    bad({ policies: { planner: policy as unknown as PolicyAdapter } }, /a LoRA adapter of policy/);
    assert.ok(agl.algorithms.grpo({ ...base, policies: { planner: policy.adapter("planner") }, train: ["arclight-policy", "planner"] }));
  } finally {
    await policy.dispose();
    await other.dispose();
  }
});

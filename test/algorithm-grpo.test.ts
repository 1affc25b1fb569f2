// The loop closed: a plain openai agent trained through the LLM proxy with
// GRPO (and SFT), on the arithmetic example's tiny policy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import {
  ARITHMETIC_POLICY,
  ArithmeticTokenizer,
  additionTasks,
  scoreAnswer,
  trainArithmetic,
  type AdditionTask,
} from "../src/examples/index.js";

const tok = new ArithmeticTokenizer();
const quiet = { progress: false, log: () => {} };

test("GRPO through the proxy lifts the greedy val reward of the addition agent by a clear margin, and logs metrics rows", async () => {
  const store = await agl.openStore();
  const r = await trainArithmetic({ store, steps: 40, seed: 1, nRunners: 4, ...quiet });
  assert.ok(r.before !== null && r.after !== null);
  assert.ok(r.after - r.before >= 0.2, `val reward ${r.before} -> ${r.after} after 40 steps`);
  const metrics = await store.querySpans({ rolloutId: r.metricsRolloutId });
  const rows = metrics.filter((s) => s.name === agl.algorithms.METRICS_SPAN);
  const train = rows.filter((s) => s.attributes["arclight.metric.phase"] === "train");
  assert.equal(train.length, 40);
  assert.deepEqual(
    train.map((s) => s.attributes["arclight.metric.step"]),
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
  assert.ok(train.every((s) => typeof s.attributes["arclight.metric.rewardMean"] === "number"));
  assert.equal(rows.filter((s) => s.attributes["arclight.metric.phase"] === "val").length, 2);

  // four runners served thousands of rollouts concurrently: every rollout's LLM span holds its own task's prompt
  const rollouts = (await store.queryRollouts({ mode: "train" })).filter((x) => (x.metadata as { kind?: string }).kind !== "algorithm");
  assert.equal(
    rollouts.length,
    r.history.reduce((n, m) => n + m.samples, 0),
    "one trained sample per rollout",
  );
  const workers = new Set<string>();
  for (const ro of rollouts.slice(0, 400)) {
    const spans = await store.querySpans({ rolloutId: ro.rolloutId });
    const llm = spans.filter((s) => s.attributes[agl.types.GEN_AI.promptTokenIds] !== undefined);
    assert.equal(llm.length, 1, `rollout ${ro.rolloutId} has ${llm.length} LLM spans`);
    const task = ro.input as AdditionTask;
    assert.deepEqual(llm[0].attributes[agl.types.GEN_AI.promptTokenIds], tok.encode(`${task.a}+${task.b}=`));
    assert.ok(spans.every((s) => s.rolloutId === ro.rolloutId));
    const attempt = await store.getLatestAttempt(ro.rolloutId);
    if (attempt?.workerId) workers.add(attempt.workerId);
  }
  assert.ok(workers.size > 1, `rollouts ran on ${workers.size} runner(s)`);
  await store.close();
});

test("a fit stopped after k steps resumes from its checkpoint at step k", async () => {
  const dir = await mkdtemp(join(tmpdir(), "arclight-grpo-ck-"));
  try {
    const opts = { seed: 3, nRunners: 2, batchSize: 4, groupSize: 4, checkpointDir: dir, ...quiet };
    const first = await trainArithmetic({ store: await agl.openStore(), steps: 3, ...opts });
    assert.equal(first.history.length, 3);
    const store2 = await agl.openStore();
    const second = await trainArithmetic({ store: store2, steps: 5, ...opts });
    assert.equal(second.steps, 5);
    assert.deepEqual(second.history.slice(0, 3), first.history, "the resumed run carries the first run's history");
    assert.deepEqual(
      second.history.map((m) => m.step),
      [1, 2, 3, 4, 5],
    );
    // the second fit trained only steps 4 and 5
    const train = (await store2.querySpans({ rolloutId: second.metricsRolloutId })).filter(
      (s) => s.attributes["arclight.metric.phase"] === "train",
    );
    assert.deepEqual(
      train.map((s) => s.attributes["arclight.metric.step"]),
      [4, 5],
    );
    assert.equal(second.before, first.after, "val at resume equals val where the first fit stopped");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// Two agents in one rollout: a "solver" that answers and a "checker" that asks again.
const twoAgents = agl.rollout(async (task: AdditionTask, ctx) => {
  const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none" });
  await agl.instrumentOpenAI(client);
  const ask = () =>
    client.chat.completions.create({
      model: ctx.llm!.model,
      messages: [{ role: "user", content: `${task.a}+${task.b}=` }],
      ...(ctx.llm!.samplingParameters as object),
    });
  const answer = await agl.tracer.withAgent("solver", ask);
  await agl.tracer.withAgent("checker", ask);
  agl.emitReward(scoreAnswer(task, answer.choices[0]?.message.content ?? ""));
});

async function samplesPerStep(agentMatch?: string): Promise<number[]> {
  const policy = await agl.native.Policy.create({ ...ARITHMETIC_POLICY, seed: 5 });
  const algorithm = agl.algorithms.grpo({
    policy,
    tokenizer: tok,
    groupSize: 4,
    batchSize: 4,
    steps: 2,
    maxTokens: 1,
    lr: 5e-3,
    progress: false,
    adapter: agentMatch ? { agentMatch } : {},
  });
  const res = await new agl.Trainer({ algorithm, nRunners: 2, log: () => {} }).fit<agl.algorithms.GrpoResult>(twoAgents, {
    train: additionTasks(4).slice(0, 8),
  });
  return res.history.map((m) => m.samples);
}

test("selective optimization: with agentMatch only the named agent's LLM calls are trained on", async () => {
  assert.deepEqual(await samplesPerStep(), [32, 32], "both agents' calls without a filter");
  assert.deepEqual(await samplesPerStep("solver"), [16, 16], "one call per rollout with agentMatch: solver");
});

test("SFT on the best-rewarded sampled answers raises the greedy val reward", async () => {
  const policy = await agl.native.Policy.create({ ...ARITHMETIC_POLICY, seed: 2 });
  const tasks = additionTasks(4);
  const agent = agl.rollout(async (task: AdditionTask, ctx) => {
    const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none" });
    const r = await client.chat.completions.create({
      model: ctx.llm!.model,
      messages: [{ role: "user", content: `${task.a}+${task.b}=` }],
      ...(ctx.llm!.samplingParameters as object),
    });
    return scoreAnswer(task, r.choices[0]?.message.content ?? "");
  });
  const algorithm = agl.algorithms.sft({
    policy,
    tokenizer: tok,
    samplesPerTask: 16,
    maxTokens: 1,
    rounds: 2,
    epochs: 8,
    batchSize: 8,
    lr: 1e-2,
    progress: false,
  });
  const res = await new agl.Trainer({ algorithm, nRunners: 4, log: () => {} }).fit<agl.algorithms.SftResult>(agent, {
    train: tasks,
    val: tasks,
  });
  assert.ok(res.kept > 0);
  assert.ok(res.after! - res.before! >= 0.2, `val reward ${res.before} -> ${res.after} (${res.kept} kept)`);
});

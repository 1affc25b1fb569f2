// Real agents: the calculator tool agent written with the `openai` client,
// the Vercel AI SDK, LangChain.js, the OpenAI Agents SDK and Anthropic's SDK
// runs multi-turn tool calls through the LLM proxy served by a native policy
// (SFT-warm-started here on scripted episodes so it writes tool calls), and
// its rollouts become training data: triplets with token ids, one masked
// sequence per episode, GRPO steps on them.
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { Policy } from "../src/native/policy.js";
import { ToolTaskTokenizer, CALL_OPEN, CALL_CLOSE } from "../src/examples/tool-agent-tokenizer.js";
import {
  calculate,
  calculatorAgent,
  calculatorPolicyConfig,
  calculatorTasks,
  question,
  scoreCalc,
  scriptedEpisode,
  warmStart,
  type CalcTask,
} from "../src/examples/tool-agent.js";
import { FRAMEWORK_AGENTS } from "../src/examples/tool-agent-frameworks.js";

const tok = new ToolTaskTokenizer();

test("the calculate tool evaluates + - * and parentheses and answers bad input with an error text, never a throw", () => {
  assert.equal(calculate("12*7+3"), "87");
  assert.equal(calculate("2*(3-5)"), "-4");
  assert.equal(calculate(" 4 - -2 "), "6");
  assert.match(calculate("12*"), /^error: expected a number/);
  assert.match(calculate("1/2"), /^error: unexpected text/);
  assert.match(calculate(""), /^error: empty expression/);
  fc.assert(fc.property(fc.string(), (s) => typeof calculate(s) === "string"));
  for (const t of calculatorTasks(50, 3)) assert.equal(calculate(t.expression), String(t.answer));
});

test("calculatorTasks leaves out excluded expressions, keeps its count and seeded order, and refuses an exclusion of every task", () => {
  const val = calculatorTasks(32, 1001);
  assert.deepEqual(calculatorTasks(256, 1, []), calculatorTasks(256, 1));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 300 }), (seed, n) => {
      const tasks = calculatorTasks(n, seed, val);
      const held = new Set(val.map((t) => t.expression));
      return tasks.length === n && tasks.every((t) => !held.has(t.expression) && calculate(t.expression) === String(t.answer));
    }),
    { numRuns: 30 },
  );
  const all = calculatorTasks(50_000, 7);
  assert.equal(new Set(all.map((t) => t.expression)).size, 1458);
  assert.throws(() => calculatorTasks(1, 0, all), /exclude leaves no expression/);
  assert.throws(() => calculatorTasks(1, 0, "x" as never), /exclude must be an array/);
});

test("the task vocabulary encodes tool-call markup as single pieces, round-trips text, and names what it cannot encode", () => {
  const ids = tok.encode(`${CALL_OPEN}12*7+3${CALL_CLOSE}`);
  assert.equal(ids.length, 8);
  assert.equal(tok.decode(ids), `${CALL_OPEN}12*7+3${CALL_CLOSE}`);
  fc.assert(fc.property(fc.stringMatching(/^[0-9+*()=?., a-z:-]{0,40}$/), (s) => tok.decode(tok.encode(s)) === s));
  assert.throws(() => tok.encode("héllo"), /"é" at 1 is not in the calculator task's vocabulary/);
  assert.throws(() => tok.encode("<|user|>"), /not in the calculator task's vocabulary/, "specials only with allowSpecial");
  assert.throws(
    () => tok.applyChatTemplate([{ role: "user", content: "x" }], { tools: [{ function: { name: "search" } }] }),
    /knows only the calculate tool, not search/,
  );
  // the scripted episode's second prompt extends the first prompt + reply token for token
  const [a, b] = scriptedEpisode(tok, { expression: "12*13+4", answer: 160 });
  assert.deepEqual(b.prompt.slice(0, a.prompt.length + a.response.length), [...a.prompt, ...a.response]);
  assert.equal(tok.decode(b.response), "160<|endoftext|>");
});

test("the question says its last operator as a word, so the agent writes the tool call's sign rather than copying it", () => {
  assert.equal(question({ expression: "13*12-4", answer: 152 }), "what is 13*12 minus 4?");
  assert.equal(question({ expression: "11*19+9", answer: 218 }), "what is 11*19 plus 9?");
  for (const t of calculatorTasks(50, 4)) {
    const q = question(t);
    assert.doesNotMatch(q, /[+-]/);
    assert.equal(tok.decode(tok.encode(q)), q);
  }
  // the scripted tool call still holds the expression itself
  const [call] = scriptedEpisode(tok, { expression: "13*12-4", answer: 152 });
  assert.equal(tok.decode(call.response), `${CALL_OPEN}13*12-4${CALL_CLOSE}<|endoftext|>`);
});

test("warmStart stops once the mean loss of its last 5 steps is below stopBelow, and refuses a stopBelow that is not positive", async () => {
  const p = await Policy.create({ ...calculatorPolicyConfig(tok), seed: 2 });
  try {
    const tasks = calculatorTasks(64, 2);
    const stopped = await warmStart(p, tok, { tasks, steps: 50, batchSize: 4, stopBelow: 1e6, seed: 2 });
    assert.equal(stopped.losses.length, 5, "any loss is below 1e6: stop as soon as 5 steps are averaged");
    const full = await warmStart(p, tok, { tasks, steps: 7, batchSize: 4, stopBelow: 1e-9, seed: 2 });
    assert.equal(full.losses.length, 7, "a threshold never reached runs every step");
    for (const bad of [0, -1, Number.NaN])
      await assert.rejects(warmStart(p, tok, { tasks, steps: 1, stopBelow: bad }), /stopBelow must be a positive number/);
  } finally {
    await p.dispose();
  }
});

let policy: Policy;
let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;

before(async () => {
  policy = await Policy.create({ ...calculatorPolicyConfig(tok), seed: 1 });
  // enough for the tool-call format (digits of the call or of the answer still slip: GRPO's job)
  await warmStart(policy, tok, { tasks: calculatorTasks(1000, 1), steps: 60, batchSize: 32, lr: 1e-2, seed: 1 });
  store = await agl.openStore();
  const backend = new agl.llm.PolicyBackend({ policy, tokenizer: tok, model: "calc", chatTemplate: tok.template() });
  proxy = await new agl.llm.LlmProxy({ backend, store, defaultMaxTokens: 16 }).start();
  await store.addResources({ llm: { ...proxy.resource("calc"), samplingParameters: { temperature: 0, max_tokens: 16 } } });
});

after(async () => {
  await proxy?.close();
  await store?.close();
  await policy?.dispose();
});

const agents: [string, agl.Agent<CalcTask>][] = [["openai", calculatorAgent], ...Object.entries(FRAMEWORK_AGENTS)];
for (const [framework, agent] of agents) {
  test(`the calculator agent written with ${framework} calls the tool through the proxy and its rollouts give multi-turn triplets with token ids`, {
    timeout: 60_000,
  }, async () => {
    const tasks = calculatorTasks(2, 11);
    const out = await new agl.Trainer({ store, nRunners: 1, log: () => {} }).dev(agent, tasks);
    for (const r of out.rollouts) {
      const spans = await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
      const failure = spans.find((s) => s.status.statusCode === "ERROR")?.status.description;
      assert.equal(r.status, "succeeded", `${framework}: ${failure ?? "no error span"}`);
      const calls = agl.spansToTriplets(spans, { rewardAssignment: "final", requireTokenIds: true });
      assert.equal(calls.length, 2, `${framework}: a tool call then an answer`);
      assert.match(calls[0].response.text ?? tok.decode(calls[0].response.tokenIds!), /^$|tool_call/);
      assert.ok(tok.decode(calls[0].response.tokenIds!).startsWith(CALL_OPEN), "the first reply is a tool call");
      assert.ok(tok.decode(calls[1].prompt.tokenIds!).includes("<|tool|>"), "the second prompt holds the tool's result");
      assert.deepEqual(agl.adapter.checkPrefix(calls), { ok: true });
      assert.ok(calls.every((c) => c.reward === 0 || c.reward === 1));
    }
  });
}

test("the openai agent rewards each tool turn (a clean call that computes the answer), so matched credit gives the call its own reward", {
  timeout: 60_000,
}, async () => {
  const tasks = calculatorTasks(6, 13);
  const out = await new agl.Trainer({ store, nRunners: 1, log: () => {} }).dev(calculatorAgent, tasks);
  for (const r of out.rollouts) {
    const task = r.input as CalcTask;
    const spans = await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
    const matched = agl.spansToTriplets(spans, { rewardAssignment: "matched", requireTokenIds: true });
    const final = agl.spansToTriplets(spans, { rewardAssignment: "final", requireTokenIds: true });
    assert.equal(matched.length, 2);
    const reply = tok.decode(matched[0].response.tokenIds!, { skipSpecial: true });
    const clean =
      reply.startsWith(CALL_OPEN) && reply.endsWith(CALL_CLOSE) && reply.indexOf(CALL_CLOSE) === reply.length - CALL_CLOSE.length;
    const expression = reply.slice(CALL_OPEN.length, reply.indexOf(CALL_CLOSE));
    assert.equal(matched[0].reward, clean && calculate(expression) === String(task.answer) ? 1 : 0, `tool call ${JSON.stringify(reply)}`);
    const answer = scoreCalc(task, tok.decode(matched[1].response.tokenIds!, { skipSpecial: true }));
    assert.equal(matched[1].reward, answer, "the reply gets the episode's reward");
    assert.deepEqual(
      final.map((c) => c.reward),
      [answer, answer],
      "under final credit both calls get the episode's (last) reward",
    );
  }
});

test("the AI SDK's telemetry spans land in the rollout's trace, nested, and frames show their ai.* and gen_ai.* attributes", {
  timeout: 60_000,
}, async () => {
  const out = await new agl.Trainer({ store, nRunners: 1, log: () => {} }).dev(FRAMEWORK_AGENTS["ai-sdk"], calculatorTasks(1, 21));
  const rid = out.rollouts[0].rolloutId;
  assert.equal(agl.tracer.globalTracing(), "ours", "no application provider here, so Arclight's is the global one");
  const spans = await store.querySpans({ rolloutId: rid });
  const root = spans.find((s) => s.name === "ai.generateText");
  assert.ok(root, `spans: ${spans.map((s) => s.name).join(", ")}`);
  const under = spans.filter((s) => s.parentId === root.spanId).map((s) => s.name);
  assert.deepEqual(under.filter((n) => n === "ai.generateText.doGenerate").length, 2, "one provider call per step");
  assert.ok(under.includes("ai.toolCall"));
  assert.equal(spans.find((s) => s.name === "ai.toolCall")?.attributes["ai.toolCall.name"], "calculate");
  const table = await agl.frames.spans(store, { rolloutId: rid }, { flatten: ["ai.operationId", "ai.model.id", "gen_ai.request.model"] });
  const rows = table.objects().filter((r) => r.rollout_id === rid && r.name === "ai.generateText.doGenerate") as Record<string, unknown>[];
  assert.equal(rows.length, 2);
  assert.ok(
    rows.every(
      (r) => r["ai.operationId"] === "ai.generateText.doGenerate" && r["ai.model.id"] === "calc" && r["gen_ai.request.model"] === "calc",
    ),
  );
  // training still reads the proxy's records, which carry the ids; the provider spans do not double the calls
  assert.equal(agl.spansToTriplets(spans, { requireTokenIds: true }).length, 2);
});

test("spans outside a rollout are not recorded by the global provider", async () => {
  const { trace } = await import("@opentelemetry/api");
  const s = trace.getTracer("outside").startSpan("not in a rollout");
  assert.equal(s.isRecording(), false);
  s.end();
});

test("GRPO on episode samples: each calculator episode trains as one masked sequence, tool tokens untrained", {
  timeout: 120_000,
}, async () => {
  const s2 = await agl.openStore();
  const steps: agl.algorithms.GrpoStepMetrics[] = [];
  const algorithm = agl.algorithms.grpo({
    policy: policy.clone(),
    tokenizer: tok,
    chatTemplate: tok.template(),
    model: "calc",
    shape: "episode",
    groupSize: 4,
    batchSize: 2,
    steps: 2,
    maxTokens: 16,
    lr: 1e-3,
    progress: false,
    onStep: (m) => steps.push(m),
  });
  const res = await new agl.Trainer({ store: s2, algorithm, nRunners: 2, log: () => {} }).fit(calculatorAgent, {
    train: calculatorTasks(4, 5),
    val: [],
  });
  assert.equal(res.history.length, 2);
  for (const m of steps) {
    assert.equal(m.episodeFallbacks, 0, "every episode kept the prefix property");
    assert.equal(m.samples, 8, "8 rollouts, one sample per episode under final credit");
  }
  await s2.close();
});

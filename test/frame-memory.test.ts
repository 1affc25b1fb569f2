import { test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../src/store/index.js";
import { frames, writeSyntheticRun } from "../src/frame/index.js";
import { ValidationError, NotFoundError } from "../src/types/errors.js";
import type { LightningStore } from "../src/store/lightning-store.js";

type Row = Record<string, unknown>;

async function toyStore(rollouts = 12): Promise<LightningStore> {
  const store = await openStore();
  await writeSyntheticRun(store, { rollouts, steps: 3, seed: 5 });
  return store;
}

test("spans frame has typed columns: Date times, numeric durations, integer sequence ids", async () => {
  const store = await toyStore();
  const t = await frames.spans(store);
  const all = await store.querySpans();
  assert.equal(t.numRows(), all.length);
  const schema = frames.frameSchema(t);
  assert.equal(schema.start_time, "timestamp");
  assert.equal(schema.duration_ms, "float64");
  assert.equal(schema.sequence_id, "int");
  for (const r of t.objects() as Row[]) {
    assert.ok(r.start_time instanceof Date && r.end_time instanceof Date);
    // Dates hold whole milliseconds; duration_ms keeps the span's fractional precision.
    assert.ok(Math.abs((r.duration_ms as number) - ((r.end_time as Date).getTime() - (r.start_time as Date).getTime())) < 1);
    assert.ok(Number.isInteger(r.sequence_id));
    assert.equal(typeof r.attributes, "object");
  }
});

test("rewards frame has one row per dimension with step from rollout metadata and the primary flag", async () => {
  const store = await toyStore();
  const t = await frames.rewards(store);
  const rows = t.objects() as Row[];
  const rollouts = await store.queryRollouts();
  assert.equal(rows.length, 2 * rollouts.length, "correct + format per rollout");
  const stepOf = new Map(rollouts.map((r) => [r.rolloutId, r.metadata.step]));
  for (const r of rows) {
    assert.equal(r.step, stepOf.get(r.rollout_id as string));
    assert.equal(r.primary, r.dimension === "correct");
    assert.ok(r.value === 0 || r.value === 1);
    assert.ok(r.time instanceof Date);
  }
  // Cross-check against the raw attributes of the reward spans.
  const spans = (await store.querySpans({ name: "agentlightning.reward" })).sort((a, b) => a.startTime - b.startTime);
  assert.deepEqual(
    rows.filter((r) => r.dimension === "format").map((r) => r.value),
    spans.map((s) => s.attributes["agentlightning.reward.1.value"]),
  );
});

test("llmCalls frame gives model, prompt and response text, tokens, latency and agent name", async () => {
  const store = await toyStore();
  const t = await frames.llmCalls(store);
  const llmSpans = (await store.querySpans()).filter((s) => s.attributes["gen_ai.operation.name"] === "chat");
  assert.equal(t.numRows(), llmSpans.length);
  const bySpan = new Map(llmSpans.map((s) => [s.spanId, s]));
  for (const r of t.objects() as Row[]) {
    const s = bySpan.get(r.span_id as string)!;
    assert.equal(r.model, s.attributes["gen_ai.response.model"]);
    assert.equal(r.input_tokens, s.attributes["gen_ai.usage.input_tokens"]);
    assert.equal(r.total_tokens, (r.input_tokens as number) + (r.output_tokens as number));
    assert.equal(r.latency_ms, s.endTime - s.startTime);
    assert.equal(r.agent_name, "solver");
    assert.match(r.prompt as string, /^system: Answer with the number only\.\nuser: What is \d+ \+ \d+\?/);
    assert.equal(r.response, JSON.parse(s.attributes["gen_ai.output.messages"] as string)[0].content);
  }
});

test("attributes flatten to columns on request, clashing keys get an attr. prefix", async () => {
  const store = await toyStore(3);
  const [ro] = await store.queryRollouts();
  const [first] = await store.querySpans({ rolloutId: ro.rolloutId });
  await store.addSpan({
    ...first,
    spanId: "00000000000000aa",
    sequenceId: undefined,
    name: "custom",
    attributes: { name: "clash", "my.score": 0.5 },
  });
  const flat = await frames.spans(store, { rolloutId: ro.rolloutId }, { flatten: true });
  const names = flat.columnNames();
  assert.ok(names.includes("gen_ai.request.model") && names.includes("my.score") && names.includes("attr.name"));
  const custom = (flat.objects() as Row[]).find((r) => r.name === "custom")!;
  assert.equal(custom["attr.name"], "clash");
  assert.equal(custom["my.score"], 0.5);
  const picked = await frames.spans(store, {}, { flatten: ["gen_ai.usage.input_tokens", "not.there"], attributes: false });
  assert.ok(!picked.columnNames().includes("attributes"));
  assert.ok(picked.columnNames().includes("not.there"), "a listed key always gets its column");
  assert.ok((picked.objects() as Row[]).every((r) => r["not.there"] === null));
});

test("span filters match by rollout list, name prefix and time window", async () => {
  const store = await toyStore();
  const all = await store.querySpans();
  const ids = [...new Set(all.map((s) => s.rolloutId))].slice(0, 3);
  const t1 = await frames.spans(store, { rolloutId: ids, namePrefix: "chat " });
  assert.equal(t1.numRows(), all.filter((s) => ids.includes(s.rolloutId) && s.name.startsWith("chat ")).length);
  const times = all.map((s) => s.startTime).sort((a, b) => a - b);
  const since = times[10];
  const until = new Date(times[30]);
  const t2 = await frames.spans(store, { since, until });
  assert.equal(t2.numRows(), all.filter((s) => s.startTime >= since && s.startTime < until.getTime()).length);
  await assert.rejects(frames.spans(store, { bogus: 1 } as never), ValidationError);
  await assert.rejects(frames.spans(42 as never), ValidationError);
  await assert.rejects(frames.spans("/nonexistent/run"), NotFoundError);
});

test("rolloutSummary, rewardByStep and latencyByName agree with the raw spans", async () => {
  const store = await toyStore();
  const summary = (await frames.rolloutSummary(store)).objects() as Row[];
  const rewards = (await frames.rewards(store)).objects() as Row[];
  for (const s of summary) {
    const spans = await store.querySpans({ rolloutId: s.rollout_id as string });
    assert.equal(s.llm_calls, spans.filter((x) => x.attributes["gen_ai.operation.name"] === "chat").length);
    const tokens = spans.reduce(
      (a, x) =>
        a + ((x.attributes["gen_ai.usage.input_tokens"] as number) ?? 0) + ((x.attributes["gen_ai.usage.output_tokens"] as number) ?? 0),
      0,
    );
    assert.equal(s.total_tokens, tokens);
    const correct = rewards.find((r) => r.rollout_id === s.rollout_id && r.dimension === "correct");
    assert.equal(s.final_reward, correct!.value);
    assert.equal(s.status, "succeeded");
  }
  const byStep = (await frames.rewardByStep(store)).objects() as Row[];
  for (const row of byStep) {
    const vals = rewards.filter((r) => r.primary && r.step === row.step).map((r) => r.value as number);
    assert.equal(row.n, vals.length);
    assert.ok(Math.abs((row.mean as number) - vals.reduce((a, b) => a + b, 0) / vals.length) < 1e-12);
  }
  const fmt = (await frames.rewardByStep(store, { dimension: "format" })).objects() as Row[];
  assert.equal(
    fmt.reduce((a, r) => a + (r.n as number), 0),
    rewards.filter((r) => r.dimension === "format").length,
  );
  const lat = (await frames.latencyByName(store)).objects() as Row[];
  const chat = (await store.querySpans({ namePrefix: "chat " })).map((s) => s.endTime - s.startTime);
  const row = lat.find((r) => (r.name as string).startsWith("chat "))!;
  assert.equal(row.n, chat.length);
  assert.equal(row.max, Math.max(...chat));
});

test("triplets frame follows the adapter: one row per LLM call, reward on the call before it", async () => {
  const store = await toyStore(6);
  const t = (await frames.triplets(store)).objects() as Row[];
  const calls = (await frames.llmCalls(store)).numRows();
  assert.equal(t.length, calls);
  const rewards = (await frames.rewards(store)).objects() as Row[];
  for (const r of t) {
    const last = !t.some((o) => o.rollout_id === r.rollout_id && (o.sequence_id as number) > (r.sequence_id as number));
    const correct = rewards.find((x) => x.rollout_id === r.rollout_id && x.dimension === "correct")!.value;
    assert.equal(r.reward, last ? correct : null);
    assert.equal(r.prompt_length, (r.prompt_token_ids as number[]).length);
  }
  const final = (await frames.triplets(store, { rewardAssignment: "final" })).objects() as Row[];
  assert.ok(final.every((r) => r.reward !== null));
  await assert.rejects(frames.triplets(store, { bogus: true } as never), ValidationError);
});

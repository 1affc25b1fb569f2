// One LLM-call rule (src/types/semconv.ts) seen from three places: the
// adapter (isLlmSpan -> triplets), frames.llmCalls and rolloutSummary's
// llm_calls, over a live store and over its directory (Parquet parts and WAL
// tail). The OpenAI upstream is a loopback test double for a hosted API this
// machine cannot reach (helpers/fake-openai.ts); the SDK and tracer are real.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { openStore, type DurableStore } from "../src/store/index.js";
import { frames, sql } from "../src/frame/index.js";
import { duckdb, sqlString } from "../src/frame/dir-reader.js";
import { readParquetArrow, values as columnValues } from "../src/frame/arrow.js";
import { SpanParquetIO } from "../src/store/parquet-io.js";
import { listStoreDir, partPath } from "../src/store/store-dir.js";
import { llmCallSql } from "../src/types/semconv-sql.js";
import { llmCallSpan } from "../src/llm/record.js";
import { AI_SDK, AGL, GEN_AI, LLM_CALL_RULES, isLlmCall, type Attributes, type Span } from "../src/types/index.js";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fake-openai.js";
import { spanDraft } from "./helpers/span-draft.js";

let fake: FakeOpenAI;
before(async () => {
  fake = await startFakeOpenAI();
  await agl.instrumentOpenAI();
});
after(() => fake.close());

let n = 0;
function span(rolloutId: string, attemptId: string, name: string, attributes: Attributes): Omit<Span, "sequenceId"> {
  const t = Date.UTC(2026, 11, 2) + n++;
  const id = (n * 7919).toString(16).padStart(16, "0");
  return spanDraft({ rolloutId, attemptId, spanId: id, name, attributes, startTime: t, endTime: t + 3 });
}

/** One rollout with an LLM call from every source we recognise, and look-alikes that are not LLM calls. Returns how many are calls. */
async function writeRollout(store: agl.LightningStore, client: OpenAI): Promise<number> {
  const ar = await store.startRollout({ input: null });
  const [r, a] = [ar.rolloutId, ar.attempt.attemptId];
  const scope = new agl.tracer.TraceScope(store, r, a);
  // Arclight's OpenAI instrumentation, through the real SDK.
  await agl.tracer.withScope(scope, () => client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] }));
  await scope.flush();
  const req = {
    model: "policy",
    messages: [{ role: "user" as const, content: "2+2?" }],
    n: 1,
    temperature: 1,
    topP: 1,
    maxTokens: 8,
    stop: [],
  };
  const res = {
    model: "policy",
    promptTokenIds: [1, 2],
    choices: [{ text: "4", tokenIds: [52], logprobs: [-0.1], finishReason: "stop" as const }],
  };
  await store.addSpans([
    // The proxy's own record of a call.
    llmCallSpan({ rolloutId: r, attemptId: a }, "chat", req, res, Date.now() - 5, null),
    // An OTLP span from another GenAI instrumentation.
    span(r, a, "chat gpt-4o", {
      [GEN_AI.operationName]: "chat",
      [GEN_AI.requestModel]: "gpt-4o",
      [GEN_AI.usageInputTokens]: 10,
      [GEN_AI.usageOutputTokens]: 2,
    }),
    // Deprecated GenAI names with no operation.
    span(r, a, "openai.chat", { [GEN_AI.system]: "openai", [GEN_AI.usagePromptTokens]: 4, [GEN_AI.usageCompletionTokens]: 1 }),
    // Vercel AI SDK: the wrapper carries usage too but only the provider call counts.
    span(r, a, "ai.generateText", { [AI_SDK.operationId]: "ai.generateText", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 10 }),
    span(r, a, "ai.generateText.doGenerate", {
      [AI_SDK.operationId]: "ai.generateText.doGenerate",
      [GEN_AI.system]: "openai.chat",
      [GEN_AI.requestModel]: "gpt-4o",
    }),
    span(r, a, "ai.streamText.doStream", { [AI_SDK.operationId]: "ai.streamText.doStream", "ai.model.id": "gpt-4o" }),
    span(r, a, "ai.embed.doEmbed", { [AI_SDK.operationId]: "ai.embed.doEmbed", [GEN_AI.system]: "openai" }),
    // OpenInference.
    span(r, a, "ChatCompletion", { "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 5 }),
    span(r, a, "agent", { "openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o" }),
    span(r, a, "llm", { "llm.token_count.completion": 3 }),
    // Not calls: embeddings, tools, Arclight's reward, a plain step.
    span(r, a, "embeddings", { [GEN_AI.operationName]: "embeddings", [GEN_AI.requestModel]: "e5" }),
    span(r, a, "execute_tool search", { [GEN_AI.operationName]: "execute_tool" }),
    span(r, a, AGL.spans.reward, { [AGL.attrs.reward]: "1", [AGL.attrs.rewardPrimary]: 1 }),
    span(r, a, "agent.step", { "tool.name": "gen_ai.request.model" }),
  ]);
  return 8;
}

async function views(src: agl.LightningStore | string) {
  const summary = (await frames.rolloutSummary(src)).objects() as { rollout_id: string; llm_calls: number }[];
  const calls = (await frames.llmCalls(src)).objects() as { rollout_id: string; span_id: string }[];
  return { summary: Object.fromEntries(summary.map((r) => [r.rollout_id, r.llm_calls])), calls: calls.map((c) => c.span_id).sort() };
}

test("adapter, frames.llmCalls and rolloutSummary count the same LLM calls from every convention, store and directory alike", {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-llm-calls-"));
  const client = new OpenAI({ apiKey: "test", baseURL: fake.baseURL });
  try {
    const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
    const expected = await writeRollout(store, client);
    await store.flush(); // first rollout into Parquet, the second stays in the WAL tail
    await writeRollout(store, client);
    const spans = await store.querySpans({});
    const adapterIds = spans
      .filter(agl.adapter.isLlmSpan)
      .map((s) => s.spanId)
      .sort();
    const perRollout = new Map<string, number>();
    for (const r of await store.queryRollouts())
      perRollout.set(r.rolloutId, agl.spansToTriplets(await store.querySpans({ rolloutId: r.rolloutId })).length);
    assert.deepEqual([...perRollout.values()], [expected, expected]);
    for (const src of [store, dir]) {
      const v = await views(src);
      assert.deepEqual(v.calls, adapterIds, `llmCalls of ${src === dir ? "dir" : "store"}`);
      assert.deepEqual(v.summary, Object.fromEntries(perRollout), `rolloutSummary of ${src === dir ? "dir" : "store"}`);
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Keys and values the rules look at, plus decoys; any mix of them must get the same answer in JS and SQL.
const keys = [
  ...new Set(LLM_CALL_RULES.flatMap((r) => (r.by === "attr" ? [r.key] : r.by === "present" ? r.keys : []))),
  "tool.name",
  "gen_ai.agent.name",
];
const values = [
  ...new Set(LLM_CALL_RULES.flatMap((r) => (r.by === "attr" ? r.llm : r.by === "name" ? r.names : []))),
  "CHAIN",
  "embeddings",
  "",
  "gen_ai.system",
];
const names = [...new Set(LLM_CALL_RULES.flatMap((r) => (r.by === "name" ? r.names : []))), "chat x", "agent.step"];
const arbAttrs = fc.dictionary(
  fc.constantFrom(...keys),
  fc.oneof(fc.constantFrom(...values), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 })),
  { maxKeys: 4 },
);

test("the SQL predicate frames push into Parquet scans answers exactly as isLlmCall", { timeout: 60_000 }, async () => {
  const cases = fc.sample(fc.tuple(fc.constantFrom(...names), arbAttrs), { numRuns: 400, seed: 17 });
  const c = await duckdb();
  try {
    const rows = cases.map(([name, a], i) => `(${i}, ${sqlString(name)}, ${sqlString(JSON.stringify(a))})`).join(", ");
    const r = await c.runAndReadAll(
      `SELECT i, ${llmCallSql({ name: "n", attributes: "a" })} AS llm FROM (VALUES ${rows}) t(i, n, a) ORDER BY i`,
    );
    const got = r.getRowObjects().map((x) => x.llm);
    const want = cases.map(([name, a]) => isLlmCall(name, a));
    assert.ok(want.some((x) => x) && want.some((x) => !x), "the sample has both answers");
    assert.deepEqual(got, want);
  } finally {
    c.closeSync();
  }
});

// Parts written before the is_llm_call column existed: rewritten here without it, as an older Arclight left them.
async function dropLlmColumn(part: string): Promise<void> {
  const c = await duckdb();
  try {
    await c.run(
      `COPY (SELECT * EXCLUDE (is_llm_call) FROM read_parquet(${sqlString(part)})) TO ${sqlString(`${part}.old`)} (FORMAT parquet, COMPRESSION zstd)`,
    );
  } finally {
    c.closeSync();
  }
  renameSync(`${part}.old`, part);
}

async function llmColumn(files: string[]): Promise<Map<string, boolean>> {
  const c = await duckdb();
  try {
    const r = await c.runAndReadAll(`SELECT span_id, is_llm_call FROM read_parquet([${files.map(sqlString).join(", ")}])`);
    return new Map(r.getRows().map(([id, v]) => [id as string, v as boolean]));
  } finally {
    c.closeSync();
  }
}

test("is_llm_call is written by semconv's rule on both writer paths, and parts without the column read the same", {
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-llm-legacy-"));
  try {
    const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
    const want = new Map<string, boolean>();
    const cases = fc.sample(fc.tuple(fc.constantFrom(...names), arbAttrs), { numRuns: 240, seed: 23 });
    const written: Span[] = [];
    for (let part = 0; part < 3; part++) {
      const ar = await store.startRollout({ input: null });
      const batch = cases.slice(part * 80, part * 80 + 80).map(([name, a]) => span(ar.rolloutId, ar.attempt.attemptId, name, a));
      for (const s of await store.addSpans(batch)) {
        want.set(s.spanId, isLlmCall(s.name, s.attributes));
        written.push(s);
      }
      if (part < 2) await store.flush(); // parts 1 and 2 in Parquet, the third rollout stays in the WAL tail
    }
    assert.ok([...want.values()].some((x) => x) && [...want.values()].some((x) => !x), "the sample has both answers");
    const parts = [...listStoreDir(dir).parts].sort((a, b) => a - b).map((n) => partPath(dir, n));
    assert.equal(parts.length, 2);
    // Write time, WAL segment -> Parquet in SQL:
    for (const [id, v] of await llmColumn(parts)) assert.equal(v, want.get(id), `span ${id} (WAL writer)`);
    // and spans -> Parquet through the appender.
    const io = new SpanParquetIO();
    const direct = join(dir, "direct.parquet");
    await io.writePart(direct, written);
    io.close();
    for (const [id, v] of await llmColumn([direct])) assert.equal(v, want.get(id), `span ${id} (appender)`);

    const views = async () => {
      const spans = (await frames.spans(dir, {}, { attributes: false, columns: ["span_id", "is_llm_call"] })).objects() as {
        span_id: string;
        is_llm_call: boolean;
      }[];
      const calls = ((await frames.llmCalls(dir)).objects() as { span_id: string }[]).map((r) => r.span_id).sort();
      const summary = ((await frames.rolloutSummary(dir)).objects() as { llm_calls: number }[]).reduce((a, r) => a + r.llm_calls, 0);
      const counted = (await sql(dir, "SELECT count(*) FILTER (WHERE is_llm_call) AS n FROM spans")).get("n", 0);
      const arrow = await readParquetArrow(parts, ["span_id", "is_llm_call"], { workerMinBytes: 0 });
      const fromWorkers = new Map(
        Array.from(columnValues(arrow.columns.span_id, arrow.rows), (id, i) => [id as string, arrow.columns.is_llm_call.at(i) as boolean]),
      );
      return { spans: new Map(spans.map((r) => [r.span_id, r.is_llm_call])), calls, summary, counted, fromWorkers };
    };
    const before = await views();
    assert.deepEqual(before.spans, want);
    assert.deepEqual(
      before.calls,
      [...want]
        .filter(([, v]) => v)
        .map(([id]) => id)
        .sort(),
    );
    await dropLlmColumn(parts[0]);
    assert.equal((await llmColumn([parts[1]])).size, 80);
    for (const v of [await views(), await (async () => (await dropLlmColumn(parts[1]), views()))()]) {
      assert.deepEqual(v.spans, want, "frames.spans");
      assert.deepEqual(v.calls, before.calls, "frames.llmCalls");
      assert.equal(v.summary, before.summary, "rolloutSummary");
      assert.equal(Number(v.counted), before.summary, "sql");
      for (const [id, x] of v.fromWorkers) assert.equal(x, want.get(id), `decoding workers, span ${id}`);
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

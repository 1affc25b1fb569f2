// The upstream here is a loopback test double for a hosted OpenAI-compatible
// API (see helpers/fake-openai.ts); the SDK and the tracer are real.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fake-openai.js";

let fake: FakeOpenAI;
before(async () => {
  fake = await startFakeOpenAI();
  await agl.instrumentOpenAI();
});
after(() => fake.close());

async function inRollout(fn: () => Promise<void>) {
  const store = await agl.openStore();
  const ar = await store.startRollout({ input: null });
  const scope = new agl.tracer.TraceScope(store, ar.rolloutId, ar.attempt.attemptId);
  await agl.tracer.withScope(scope, fn);
  await scope.flush();
  return store.querySpans({ rolloutId: ar.rolloutId });
}

test("a plain openai client's chat completion becomes a GenAI span with token ids and logprobs", async () => {
  const client = new OpenAI({ apiKey: "test", baseURL: fake.baseURL });
  const spans = await inRollout(async () => {
    const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], temperature: 0.7 });
    assert.equal(r.choices[0].message.content, "echo:hi");
  });
  assert.equal(spans.length, 1);
  const a = spans[0].attributes;
  assert.equal(spans[0].name, "chat tiny");
  assert.equal(a["gen_ai.operation.name"], "chat");
  assert.equal(a["gen_ai.request.model"], "tiny");
  assert.equal(a["gen_ai.request.temperature"], 0.7);
  assert.equal(a["gen_ai.usage.input_tokens"], 3);
  assert.equal(a["gen_ai.usage.output_tokens"], 7);
  assert.deepEqual(a["gen_ai.prompt.token_ids"], [1, 2, 3]);
  assert.deepEqual(
    a["gen_ai.completion.token_ids"],
    [..."echo:hi"].map((c) => c.charCodeAt(0)),
  );
  assert.equal((a["gen_ai.completion.logprobs"] as number[])[1], -1.5);
  assert.deepEqual(JSON.parse(a["gen_ai.input.messages"] as string), [{ role: "user", content: "hi" }]);
  assert.equal(JSON.parse(a["gen_ai.output.messages"] as string)[0].content, "echo:hi");
  const t = agl.spansToTriplets(spans);
  assert.equal(t.length, 1);
  assert.equal(t[0].response.text, "echo:hi");
});

test("a streamed completion is recorded when the stream ends, and the caller sees every chunk", async () => {
  const client = new OpenAI({ apiKey: "test", baseURL: fake.baseURL });
  let text = "";
  const spans = await inRollout(async () => {
    const stream = await client.chat.completions.create({ model: "tiny", stream: true, messages: [{ role: "user", content: "yo" }] });
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  });
  assert.equal(text, "echo:yo");
  const a = spans[0].attributes;
  assert.equal(JSON.parse(a["gen_ai.output.messages"] as string)[0].content, "echo:yo");
  assert.equal(a["gen_ai.usage.output_tokens"], 7);
  assert.deepEqual(
    a["gen_ai.completion.token_ids"],
    [..."echo:yo"].map((c) => c.charCodeAt(0)),
  );
  assert.equal((a["gen_ai.completion.logprobs"] as number[]).length, 7);
});

test("a failing call is an error span and the caller still gets the SDK's error", async () => {
  const client = new OpenAI({ apiKey: "test", baseURL: `${fake.baseURL}/boom`, maxRetries: 0 });
  const spans = await inRollout(async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x" }] }),
      (e: unknown) => e instanceof OpenAI.APIError && e.status === 500,
    );
  });
  assert.equal(spans.length, 1);
  assert.equal(spans[0].status.statusCode, "ERROR");
});

test("withResponse still works on an instrumented call", async () => {
  const client = new OpenAI({ apiKey: "test", baseURL: fake.baseURL });
  await inRollout(async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "tiny", messages: [{ role: "user", content: "z" }] })
      .withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.choices[0].message.content, "echo:z");
  });
});

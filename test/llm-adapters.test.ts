// One proxy serving several LoRA adapters over one base, by model name: each request generates with the
// adapter its model names, the recorded call carries that name, batching never mixes adapters, and an
// unknown name is a client error naming the models served.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { ValidationError } from "../src/types/errors.js";
import { Policy, type PolicyAdapter } from "../src/native/index.js";
import { ARITHMETIC_POLICY, ArithmeticTokenizer } from "../src/examples/index.js";

const tok = new ArithmeticTokenizer();
const PROMPT = "1+2=";
let policy: Policy;
let planner: PolicyAdapter;
let solver: PolicyAdapter;
let store: agl.LightningStore;
let backend: agl.llm.PolicyBackend;
let proxy: agl.llm.LlmProxy;

/** Greedy answer of one generator to PROMPT, as the proxy would decode it. */
async function greedy(g: Policy | PolicyAdapter): Promise<number[]> {
  const out = await g.generate([tok.encode(PROMPT)], { temperature: 0, maxTokens: 2, stop: [tok.eosId] });
  return out.tokens[0];
}

before(async () => {
  policy = await Policy.create({
    ...ARITHMETIC_POLICY,
    seed: 4,
    device: "cpu",
    lora: { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "o_proj", "down_proj"] },
  });
  planner = policy.adapter("planner");
  solver = policy.adapter("solver");
  // Teach each adapter its own answer, so the model name visibly picks the weights.
  const data = (answer: number) => ({ prompts: [tok.encode(PROMPT)], responses: [[answer, answer, tok.eosId]] });
  for (let i = 0; i < 30; i++) {
    await planner.trainStep(data(7), { loss: "sft", lr: 5e-2 });
    await solver.trainStep(data(3), { loss: "sft", lr: 5e-2 });
  }
  store = await agl.openStore();
  backend = new agl.llm.PolicyBackend({ policy, model: "base", tokenizer: tok, policies: { planner, solver } });
  proxy = await agl.llm.startLlmProxy({ store, backend });
});
after(async () => {
  await proxy?.close();
  await store?.close();
  await policy?.dispose();
});

test("each model name generates with its own adapter and the recorded call names it", { timeout: 60_000 }, async () => {
  const expected = { base: await greedy(policy), planner: await greedy(planner), solver: await greedy(solver) };
  assert.equal(expected.planner[0], 7, "the planner adapter learned its answer");
  assert.equal(expected.solver[0], 3, "the solver adapter learned its answer");
  assert.notEqual(expected.base[0], 7, "the base does not answer like the planner");

  const ar = await store.startRollout({ input: null });
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId), maxRetries: 0 });
  const ask = (model: string) =>
    client.chat.completions.create({ model, temperature: 0, max_tokens: 2, messages: [{ role: "user", content: PROMPT }] });
  for (const model of ["planner", "solver", "base"] as const) {
    const r = await ask(model);
    assert.equal(r.model, model);
    assert.equal(r.choices[0].message.content, tok.decode(expected[model], { skipSpecial: true }), `${model} answers as its adapter`);
  }
  assert.deepEqual(
    (await client.models.list()).data.map((m) => m.id),
    ["base", "planner", "solver"],
  );

  const spans = await store.querySpans({ rolloutId: ar.rolloutId });
  assert.deepEqual(
    spans.map((s) => s.name),
    ["chat planner", "chat solver", "chat base"],
  );
  const triplets = agl.spansToTriplets(spans);
  assert.deepEqual(
    triplets.map((t) => t.model),
    ["planner", "solver", "base"],
    "the adapter side reads whose call it was",
  );
  for (const t of triplets) {
    const model = t.model as keyof typeof expected;
    assert.deepEqual(t.response.tokenIds, expected[model]);
    // the recorded logprobs are the serving adapter's own (what GRPO uses as old logprobs)
    const own = await (model === "base" ? policy : model === "planner" ? planner : solver).logprobs({
      prompts: [t.prompt.tokenIds!],
      responses: [t.response.tokenIds!],
    });
    own.logprobs[0].forEach((x, i) => assert.ok(Math.abs(x - t.response.logprobs![i]) < 1e-4, `${model} logprob ${i}`));
  }
});

test("requests for two adapters in one batching window are never served by one call", { timeout: 60_000 }, async () => {
  const expected = { planner: await greedy(planner), solver: await greedy(solver) };
  const batching = new agl.llm.PolicyBackend({ tokenizer: tok, policies: { planner, solver }, batchWindowMs: 50 });
  // Called in one tick, so all three wait in the same window (no seed: batchable); they would share one
  // call if the model were not part of the batch's key.
  const ask = (model: string) => batching.generate({ model, prompt: PROMPT, n: 1, temperature: 0, topP: 1, maxTokens: 2, stop: [] });
  const [a, b, c] = await Promise.all([ask("planner"), ask("solver"), ask("planner")]);
  assert.deepEqual(a.choices[0].tokenIds, expected.planner);
  assert.deepEqual(b.choices[0].tokenIds, expected.solver);
  assert.deepEqual(c.choices[0].tokenIds, expected.planner);
  assert.deepEqual([a.model, b.model, c.model], ["planner", "solver", "planner"]);
  assert.equal(batching.generateCalls, 2, "one call per adapter: the two planner requests shared theirs");
});

test("an unknown model name is a client error naming the models served, never a 500", { timeout: 30_000 }, async () => {
  const calls = backend.generateCalls;
  const ar = await store.startRollout({ input: null });
  const res = await fetch(`${proxy.urlFor(ar.rolloutId, ar.attempt.attemptId)}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "critic", messages: [{ role: "user", content: PROMPT }] }),
  });
  // the proxy answers an unknown model as OpenAI does (404 model_not_found)
  assert.equal(res.status, 404);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "model_not_found");
  assert.match(body.error.message, /'critic'.*base, planner, solver/);
  assert.equal(backend.generateCalls, calls, "nothing was generated");
  assert.equal((await store.querySpans({ rolloutId: ar.rolloutId })).length, 0, "nothing was recorded");
  // a caller that reaches the backend without the proxy's check gets a ValidationError (the proxy's 400)
  await assert.rejects(
    backend.generate({ model: "critic", prompt: PROMPT, n: 1, temperature: 0, topP: 1, maxTokens: 1, stop: [] }),
    (e: Error) => e instanceof ValidationError && /"critic" is not served here; known models: base, planner, solver/.test(e.message),
  );
  assert.equal(backend.generateCalls, calls);
});

test("PolicyBackend's policies option: checked at construction; setPolicy swaps one model", () => {
  const fake = (ctx: number): agl.llm.GeneratorLike => ({
    config: { ctx },
    generate: async () => ({ tokens: [[ctx]], logprobs: [[0]] }),
  });
  const bad = (o: unknown, re: RegExp) =>
    assert.throws(
      () => new agl.llm.PolicyBackend(o as agl.llm.PolicyBackendOptions),
      (e: Error) => e instanceof ValidationError && re.test(e.message),
    );
  bad({ tokenizer: tok, policies: {} }, /policies must be a non-empty object/);
  bad({ tokenizer: tok, policies: { a: {} } }, /policies\["a"\]: policy must have a generate/);
  bad({ tokenizer: tok, policy: fake(8), model: "a", policies: { a: fake(8) } }, /"a" is also a key of policies/);
  bad({ tokenizer: tok, policy: fake(8), policies: { a: fake(8) } }, /model must be a non-empty string/);
  bad({ tokenizer: tok, model: "m", policies: { a: fake(8) } }, /policy must have a generate/);
  const b = new agl.llm.PolicyBackend({ tokenizer: tok, policies: { a: fake(8), b: fake(6) } });
  assert.deepEqual(b.models(), ["a", "b"]);
  assert.equal(b.maxPromptTokens, 5, "the smallest context among the models bounds the prompt");
  assert.throws(() => b.setPolicy(fake(8), "c"), /"c" is not served here; known models: a, b/);
  b.setPolicy(fake(12), "b");
  assert.equal(b.maxPromptTokens, 7);
});

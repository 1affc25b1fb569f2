// PolicyBackend batches concurrent unseeded requests into one policy.generate
// call; seeded requests, failures and aborts stay per request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PolicyBackend, type GeneratorLike, type GenerateRequest } from "../src/llm/index.js";
import { ArithmeticTokenizer } from "../src/examples/arithmetic-tokenizer.js";

type Call = { prompts: number[][]; seed?: number; n?: number };

/** A fake policy: sample k of a prompt answers its first token + k; prompt "9" fails any call it is in. */
function fakePolicy(calls: Call[]): GeneratorLike {
  return {
    config: { ctx: 16 },
    async generate(prompts, opts) {
      calls.push({ prompts, seed: opts.seed, n: opts.n });
      await new Promise((r) => setTimeout(r, 5));
      if (prompts.some((p) => p[0] === 9)) throw new Error("bad prompt 9");
      const n = opts.n ?? 1;
      const tokens = prompts.flatMap((p) => Array.from({ length: n }, (_, k) => [(p[0] + k) % 10, 12]));
      return { tokens, logprobs: tokens.map((t) => t.map(() => -0.5)) };
    },
  };
}

const req = (content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: "m",
  messages: [{ role: "user", content }],
  n: 1,
  temperature: 1,
  topP: 1,
  maxTokens: 2,
  stop: [],
  ...extra,
});

test("concurrent unseeded requests with the same sampling share one generate call and each gets its own samples", async () => {
  const calls: Call[] = [];
  const b = new PolicyBackend({ policy: fakePolicy(calls), tokenizer: new ArithmeticTokenizer(), model: "m", batchWindowMs: 5 });
  const rs = await Promise.all(["1+1=", "2+2=", "3+3=", "4+0="].map((c) => b.generate(req(c, { n: 2 }))));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].prompts.length, 4);
  assert.deepEqual(
    rs.map((r) => r.choices.map((c) => c.text)),
    [
      ["1", "2"],
      ["2", "3"],
      ["3", "4"],
      ["4", "5"],
    ],
  );
  assert.deepEqual(rs[2].choices[0].tokenIds, [3, 12]);
  assert.deepEqual(rs[2].promptTokenIds, [3, 10, 3, 11]);
});

test("seeded requests and requests that sample differently are not batched together", async () => {
  const calls: Call[] = [];
  const b = new PolicyBackend({ policy: fakePolicy(calls), tokenizer: new ArithmeticTokenizer(), model: "m", batchWindowMs: 5 });
  await Promise.all([
    b.generate(req("1+1=", { seed: 7 })),
    b.generate(req("2+2=", { seed: 7 })),
    b.generate(req("3+3=", { temperature: 0 })),
    b.generate(req("4+4=")),
  ]);
  assert.equal(calls.length, 4);
  assert.deepEqual(calls.filter((c) => c.seed === 7).length, 2);
});

test("a failing prompt fails only its own request; an aborted request leaves its batch", async () => {
  const calls: Call[] = [];
  const b = new PolicyBackend({ policy: fakePolicy(calls), tokenizer: new ArithmeticTokenizer(), model: "m", batchWindowMs: 5 });
  const ac = new AbortController();
  const results = await Promise.allSettled([
    b.generate(req("1+1=")),
    b.generate(req("9+0=")),
    b.generate(req("2+0=", { signal: ac.signal })),
    b.generate(req("3+0=")),
  ]);
  ac.abort();
  assert.equal(results[0].status, "fulfilled");
  assert.equal(results[1].status, "rejected");
  assert.match(String((results[1] as PromiseRejectedResult).reason), /bad prompt 9/);
  assert.equal(results[3].status, "fulfilled");
  assert.equal((results[3] as PromiseFulfilledResult<{ choices: { text: string }[] }>).value.choices[0].text, "3");
  // the batch failed once, then each request ran alone
  assert.equal(calls[0].prompts.length, 4);
  assert.ok(calls.slice(1).every((c) => c.prompts.length === 1));

  const ac2 = new AbortController();
  const p = b.generate(req("5+0=", { signal: ac2.signal }));
  const q = b.generate(req("6+0="));
  ac2.abort();
  await assert.rejects(p);
  assert.equal((await q).choices[0].text, "6");
});

test("a full batch is sent without waiting for the window", async () => {
  const calls: Call[] = [];
  const b = new PolicyBackend({
    policy: fakePolicy(calls),
    tokenizer: new ArithmeticTokenizer(),
    model: "m",
    batchWindowMs: 10_000,
    maxBatch: 3,
  });
  const t0 = performance.now();
  await Promise.all(["1+0=", "2+0=", "3+0="].map((c) => b.generate(req(c))));
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(calls.length, 1);
});

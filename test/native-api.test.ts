// The JS face of the native trainer: checkpoints, input validation, abort,
// per-policy serialization, device fallback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy } from "../src/native/index.js";

const dir = mkdtempSync(join(tmpdir(), "arclight-native-"));
const qwen = { family: "qwen2", layers: 2, dModel: 32, heads: 4, kvHeads: 2, vocab: 50, ctx: 64, seed: 3, tieEmbeddings: false } as const;
const batch = {
  prompts: [
    [1, 2, 3],
    [4, 5],
  ],
  responses: [[6, 7, 8, 9], [10]],
};

test("save then load reproduces config, step and logprobs exactly (both families)", async () => {
  for (const cfg of [qwen, { family: "gpt2", layers: 1, dModel: 16, heads: 2, vocab: 30, ctx: 16, seed: 9 } as const]) {
    const policy = await Policy.create(cfg);
    await policy.trainStep(
      {
        ...batch,
        prompts: [
          [1, 2, 3],
          [4, 5],
        ],
      },
      { loss: "sft", lr: 1e-2 },
    );
    const path = join(dir, `${cfg.family}.safetensors`);
    await policy.save(path);
    const loaded = await Policy.load(path);
    assert.deepEqual(loaded.config, policy.config);
    assert.equal(loaded.step, 1);
    assert.deepEqual(await loaded.logprobs(batch), await policy.logprobs(batch));
    const header = readFileSync(path)
      .subarray(8, 8 + 4000)
      .toString("latin1");
    assert.match(header, /"arclight.family":"/);
  }
});

test("loading a missing, truncated or foreign file rejects with a clear error", async () => {
  await assert.rejects(Policy.load(join(dir, "nope.safetensors")), /nope\.safetensors/);
  const policy = await Policy.create(qwen);
  const good = join(dir, "good.safetensors");
  await policy.save(good);
  const bytes = readFileSync(good);
  const cut = join(dir, "cut.safetensors");
  writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(Policy.load(cut), (e: Error) => e instanceof Error && e.message.length > 10);
  const junk = join(dir, "junk.safetensors");
  writeFileSync(junk, Buffer.from("this is not a checkpoint at all"));
  await assert.rejects(Policy.load(junk), Error);
});

test("wrong shapes and types throw a TypeError naming the expected shape before reaching C++", async () => {
  const policy = await Policy.create(qwen);
  await assert.rejects(
    policy.logprobs({ prompts: [[1, 2]], responses: [] }),
    (e: Error) => e instanceof TypeError && /one response per prompt/.test(e.message),
  );
  await assert.rejects(
    policy.logprobs({ prompts: [[1, 2]], responses: [[99]] }),
    (e: Error) => e instanceof TypeError && /\[0, 50\)/.test(e.message),
  );
  await assert.rejects(policy.logprobs({ prompts: [[]], responses: [[1]] }), TypeError);
  await assert.rejects(policy.logprobs({ prompts: [[1.5]], responses: [[1]] }), TypeError);
  await assert.rejects(policy.logprobs({ prompts: "abc" as unknown as number[][], responses: [[1]] }), /number\[\]\[\]/);
  await assert.rejects(
    policy.trainStep({ ...batch, oldLogprobs: [[0, 0]], advantages: [1, 1] }),
    (e: Error) => e instanceof TypeError && /number\[2\]\[len\(responses\[i\]\)\]/.test(e.message),
  );
  await assert.rejects(policy.trainStep({ ...batch, advantages: [1] }), /number\[2\]/);
  await assert.rejects(policy.trainStep(batch, { loss: "grpo" }), /advantages/);
  await assert.rejects(policy.trainStep({ ...batch, advantages: [1, -1] }, { klBeta: 0.1 }), /reference/);
  await assert.rejects(policy.generate([[1]], { maxTokens: -1 }), TypeError);
  await assert.rejects(policy.generate([Array(64).fill(1)]), /ctx/);
  await assert.rejects(Policy.create({ family: "mistral" as "gpt2", layers: 1, dModel: 8, heads: 2 }), /family/);
  await assert.rejects(Policy.create({ family: "qwen2", layers: 1, dModel: 8, heads: 3 }), /divide/);
  // the policy still works after all of that
  const ok = await policy.logprobs(batch);
  assert.equal(ok.logprobs[0].length, 4);
});

test("the native layer rejects bad input defensively instead of crashing", async () => {
  const { loadAddon } = await import("../src/native/index.js");
  const addon = loadAddon();
  const p = new addon.NativePolicy({ family: "gpt2", layers: 1, dModel: 8, heads: 2, vocab: 10, ctx: 8 }, 1);
  const tokens = Int32Array.from([1, 2, 3]);
  assert.throws(() => p.score({ tokens, promptLens: Int32Array.from([1]), responseLens: Int32Array.from([5]) }), TypeError);
  assert.throws(
    () => p.score({ tokens, promptLens: Float64Array.from([1]) as unknown as Int32Array, responseLens: Int32Array.from([2]) }),
    TypeError,
  );
  await assert.rejects(
    p.score({ tokens: Int32Array.from([1, 2, 300]), promptLens: Int32Array.from([1]), responseLens: Int32Array.from([2]) }),
    /vocab/,
  );
  assert.throws(() => new addon.NativePolicy({ family: "gpt2", layers: 1, dModel: 8, heads: 3 }, 1), TypeError);
});

test("an AbortSignal stops a long generate between tokens", async () => {
  const policy = await Policy.create({ family: "gpt2", layers: 4, dModel: 128, heads: 4, vocab: 256, ctx: 1024, seed: 1 });
  const ac = new AbortController();
  const started = Date.now();
  const run = policy.generate([[1, 2, 3]], { n: 8, maxTokens: 1000, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(run, (e: Error) => e.name === "AbortError");
  assert.ok(Date.now() - started < 5000, "stopped promptly");
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(policy.generate([[1]], { signal: pre.signal }), (e: Error) => e.name === "AbortError");
  // the next call runs normally
  const g = await policy.generate([[1, 2]], { maxTokens: 3 });
  assert.equal(g.tokens[0].length, 3);
});

test("concurrent calls on one policy are serialized: results equal the sequential ones", async () => {
  const a = await Policy.create(qwen);
  const b = a.clone();
  const opts = { loss: "sft", lr: 1e-2 } as const;
  // sequential on b
  await b.trainStep(batch, opts);
  const mid = await b.logprobs(batch);
  await b.trainStep(batch, opts);
  const end = await b.logprobs(batch);
  // fired together on a
  const [, midA, , endA] = await Promise.all([a.trainStep(batch, opts), a.logprobs(batch), a.trainStep(batch, opts), a.logprobs(batch)]);
  assert.deepEqual(midA, mid);
  assert.deepEqual(endA, end);
});

test("clone is independent, dispose frees, and device cuda falls back to the CPU with a message", async () => {
  const a = await Policy.create(qwen);
  const ref = a.clone();
  const before = await ref.logprobs(batch);
  await a.trainStep(batch, { loss: "sft", lr: 1e-2 });
  assert.deepEqual(await ref.logprobs(batch), before);
  assert.notDeepEqual(await a.logprobs(batch), before);
  await a.dispose();
  await assert.rejects(a.logprobs(batch), /disposed/);
  const warnings: string[] = [];
  const orig = console.warn;
  console.warn = (m: string) => warnings.push(String(m));
  try {
    const c = await Policy.create({ ...qwen, device: "cuda" });
    if (c.device === "cpu")
      assert.ok(
        warnings.some((w) => /CPU/.test(w)),
        "warned about the fallback",
      );
    assert.equal((await c.generate([[1]], { maxTokens: 2 })).tokens[0].length, 2);
  } finally {
    console.warn = orig;
  }
});

test("learning rate follows linear warmup then cosine decay to minLrRatio", async () => {
  const policy = await Policy.create({ family: "gpt2", layers: 1, dModel: 8, heads: 2, vocab: 12, ctx: 8, seed: 2 });
  const small = { prompts: [[1]], responses: [[2, 3]] };
  const opts = { loss: "sft", lr: 0.01, warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1 } as const;
  const lrs: number[] = [];
  for (let i = 0; i < 7; i++) lrs.push((await policy.trainStep(small, opts)).lr);
  const expected = [0.005, 0.01];
  for (let s = 2; s < 7; s++) {
    const t = Math.min(1, (s - 2) / 4);
    expected.push(0.001 + 0.5 * (0.01 - 0.001) * (1 + Math.cos(Math.PI * t)));
  }
  lrs.forEach((lr, i) => assert.ok(Math.abs(lr - expected[i]) < 1e-12, `step ${i}: ${lr} vs ${expected[i]}`));
  assert.equal(policy.step, 7);
});

test("estimateParams matches the native parameter count; oversized configs are refused up front", async () => {
  const { estimateParams } = await import("../src/native/index.js");
  for (const cfg of [
    qwen,
    { ...qwen, tieEmbeddings: true },
    { family: "gpt2", layers: 3, dModel: 24, heads: 3, vocab: 70, ctx: 20, ffn: 40 } as const,
  ]) {
    const p = await Policy.create(cfg);
    assert.equal(estimateParams(cfg), p.numParams);
  }
  await assert.rejects(Policy.create({ family: "gpt2", layers: 64, dModel: 16384, heads: 128, vocab: 100000, ctx: 4096 }), /GiB/);
});

test("generate ends samples on stop tokens (kept in the output), maxTokens and the context length", async () => {
  const policy = await Policy.create({ family: "gpt2", layers: 1, dModel: 16, heads: 2, vocab: 30, ctx: 8, seed: 4 });
  const greedy = await policy.generate([[1, 2]], { temperature: 0, maxTokens: 4 });
  assert.deepEqual(greedy.finishReasons, ["length"]);
  const stopAt = greedy.tokens[0][1];
  const stopped = await policy.generate([[1, 2]], { temperature: 0, maxTokens: 4, stop: [stopAt] });
  const firstHit = greedy.tokens[0].indexOf(stopAt);
  assert.deepEqual(stopped.tokens[0], greedy.tokens[0].slice(0, firstHit + 1));
  assert.deepEqual(stopped.finishReasons, ["stop"]);
  const full = await policy.generate([[1, 2, 3, 4, 5, 6]], { maxTokens: 10, n: 3, seed: 1 });
  assert.deepEqual(full.finishReasons, ["ctx", "ctx", "ctx"]);
  assert.ok(full.tokens.every((t) => t.length === 2));
  // the same seed draws the same samples; another seed draws others
  const again = await policy.generate([[1, 2, 3]], { n: 4, maxTokens: 5, seed: 9 });
  assert.deepEqual((await policy.generate([[1, 2, 3]], { n: 4, maxTokens: 5, seed: 9 })).tokens, again.tokens);
  assert.notDeepEqual((await policy.generate([[1, 2, 3]], { n: 4, maxTokens: 5, seed: 10 })).tokens, again.tokens);
});

test("top-k 1 equals greedy, and sample logprobs are 0 there while policy logprobs are not", async () => {
  const policy = await Policy.create({ family: "qwen2", layers: 1, dModel: 16, heads: 2, vocab: 30, ctx: 16, seed: 4 });
  const greedy = await policy.generate([[1, 2]], { temperature: 0, maxTokens: 6 });
  const topk = await policy.generate([[1, 2]], { temperature: 0.7, topK: 1, maxTokens: 6, seed: 3 });
  assert.deepEqual(topk.tokens, greedy.tokens);
  assert.ok(topk.sampleLogprobs[0].every((x) => x === 0));
  assert.ok(topk.logprobs[0].every((x) => x < 0));
  const nucleus = await policy.generate([[1, 2]], { topP: 0.5, maxTokens: 6, seed: 3, n: 4 });
  nucleus.sampleLogprobs
    .flat()
    .forEach((s, i) => assert.ok(s >= nucleus.logprobs.flat()[i] - 1e-12, "renormalised nucleus is at least as likely"));
});

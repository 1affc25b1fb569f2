// Base weights held as bf16 (fromPretrained's baseWeights: "bf16"): a BF16 checkpoint loads with
// the same numbers as the fp32-stored base (bf16 -> fp32 is exact), at about half the weight bytes;
// LoRA trains on it with the same losses and adapter gradients; refused combinations say why. Also
// the CPU trainStep's gradient accumulation: a batch's gradient is the sum of its sequences'.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy } from "../src/native/index.js";

const C = 64,
  H = 4,
  KV = 2,
  D = C / H,
  F = 128,
  L = 2;

// Seeded random weights, rounded to bf16 so the file holds the model exactly.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function writeBf16Safetensors(path: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  const bodies: Buffer[] = [];
  for (const [k, t] of tensors) {
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const out = Buffer.alloc(2 * t.data.length);
    for (let i = 0; i < bits.length; i++) out.writeUInt16LE(bits[i] >>> 16, 2 * i); // values are bf16 already
    header[k] = { dtype: "BF16", shape: t.shape, data_offsets: [off, off + out.length] };
    off += out.length;
    bodies.push(out);
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...bodies]));
}

function writeQwen2Dir(seed: number, V: number): string {
  const dir = mkdtempSync(join(tmpdir(), "arclight-bf16-"));
  const next = rng(seed);
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * next();
    const bits = new Uint32Array(data.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] &= 0xffff0000; // exactly representable in bf16
    t.set(name, { shape, data });
  };
  add("model.embed_tokens.weight", [V, C], 0.5);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [C], 0.2, 1);
    add(`${p}self_attn.q_proj.weight`, [H * D, C], 0.3);
    add(`${p}self_attn.q_proj.bias`, [H * D], 0.1);
    add(`${p}self_attn.k_proj.weight`, [KV * D, C], 0.3);
    add(`${p}self_attn.k_proj.bias`, [KV * D], 0.1);
    add(`${p}self_attn.v_proj.weight`, [KV * D, C], 0.3);
    add(`${p}self_attn.v_proj.bias`, [KV * D], 0.1);
    add(`${p}self_attn.o_proj.weight`, [C, H * D], 0.3);
    add(`${p}post_attention_layernorm.weight`, [C], 0.2, 1);
    add(`${p}mlp.gate_proj.weight`, [F, C], 0.3);
    add(`${p}mlp.up_proj.weight`, [F, C], 0.3);
    add(`${p}mlp.down_proj.weight`, [C, F], 0.3);
  }
  add("model.norm.weight", [C], 0.2, 1);
  writeBf16Safetensors(join(dir, "model.safetensors"), t);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      num_hidden_layers: L,
      hidden_size: C,
      num_attention_heads: H,
      num_key_value_heads: KV,
      intermediate_size: F,
      vocab_size: V,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-6,
      rope_theta: 1e6,
      hidden_act: "silu",
      tie_word_embeddings: true,
      use_sliding_window: false,
      torch_dtype: "bfloat16",
    }),
  );
  return dir;
}

// Every matrix here fits one GEMM tile (bf16_tile_floats(), 256 K floats = 4096 rows at dModel 64):
// widened whole, it runs the very fp32 kernels the fp32 base does, so results are bit-identical.
const dir = writeQwen2Dir(7, 300);
// A head of 5000 rows takes two tiles: see "the tiled GEMM path" below.
const tiledDir = writeQwen2Dir(8, 5000);
// Long enough that the GEMMs reach the BLAS path (N * C * OC >= 32768).
const prompt = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 300);
const batch = {
  prompts: [prompt, [3, 1, 4, 1, 5]],
  responses: [Array.from({ length: 20 }, (_, i) => (i * 11 + 2) % 300), [9, 2, 6, 5, 3, 5, 8]],
};
const lora = { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"] as const };

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(a.length, b.length, what);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= rel * scale, `${what}[${i}]: ${a[i]} vs ${b[i]} (scale ${scale})`);
}

test("a BF16 checkpoint held as bf16 gives the same logprobs and greedy tokens as held in fp32, at half the weight bytes", {
  timeout: 60_000,
}, async () => {
  const f32 = await Policy.fromPretrained(dir, { device: "cpu" });
  const b16 = await Policy.fromPretrained(dir, { device: "cpu", baseWeights: "bf16" });
  assert.equal(b16.device, "cpu");
  assert.deepEqual((await b16.logprobs(batch)).logprobs, (await f32.logprobs(batch)).logprobs);
  const gen = { maxTokens: 12, temperature: 0, n: 1 };
  assert.deepEqual((await b16.generate([prompt, [7]], gen)).tokens, (await f32.generate([prompt, [7]], gen)).tokens);
  const m32 = f32.memory()!,
    m16 = b16.memory()!;
  const params = f32.numParams;
  assert.deepEqual(m32.weightsByDtype, { fp32: 4 * params, bf16: 0 });
  assert.deepEqual(m16.weightsByDtype, { fp32: 0, bf16: 2 * params });
  assert.equal(m16.weights, m32.weights / 2);
  // inference only: training every weight needs fp32 masters
  await assert.rejects(b16.trainStep(batch, { loss: "sft", lr: 1e-3 }), /bf16 for inference.*baseWeights "fp32"/);
  await assert.rejects(b16.gradients(batch, { loss: "sft" }), /bf16 for inference/);
  assert.equal(b16.step, 0);
  await Promise.all([f32.dispose(), b16.dispose()]);
});

test("LoRA over a bf16 base: same losses, adapter gradients and trained logprobs as over the fp32 base", {
  timeout: 60_000,
}, async () => {
  const f32 = await Policy.fromPretrained(dir, { device: "cpu", lora: { ...lora, targets: [...lora.targets] }, seed: 3 });
  const b16 = await Policy.fromPretrained(dir, {
    device: "cpu",
    lora: { ...lora, targets: [...lora.targets] },
    seed: 3,
    baseWeights: "bf16",
  });
  const m32 = f32.memory()!,
    m16 = b16.memory()!;
  const adapterBytes = 4 * f32.trainableParams;
  assert.equal(m16.weightsByDtype.fp32, adapterBytes, "only the adapters stay fp32");
  assert.equal(m16.weightsByDtype.bf16, 2 * (f32.numParams - f32.trainableParams));
  assert.ok(m16.weights < 0.55 * m32.weights, `${m16.weights} vs ${m32.weights}`);

  // B = 0 at init, so the first step's gradient reaches only B; a second step moves A too.
  for (let step = 0; step < 3; step++) {
    const g32 = await f32.gradients(batch, { loss: "sft" });
    const g16 = await b16.gradients(batch, { loss: "sft" });
    assert.equal(g16.loss, g32.loss, `step ${step} loss`);
    assert.deepEqual([...g16.grads.keys()], [...g32.grads.keys()]);
    for (const [name, g] of g32.grads) assert.deepEqual(g16.grads.get(name), g, `step ${step} ${name}`);
    const s32 = await f32.trainStep(batch, { loss: "sft", lr: 5e-2 });
    const s16 = await b16.trainStep(batch, { loss: "sft", lr: 5e-2 });
    assert.equal(s16.loss, s32.loss);
    assert.equal(s16.gradNorm, s32.gradNorm);
  }
  const lp32 = (await f32.logprobs(batch)).logprobs,
    lp16 = (await b16.logprobs(batch)).logprobs;
  assert.deepEqual(lp16, lp32);
  const gen = { maxTokens: 10, temperature: 0 };
  assert.deepEqual((await b16.generate([prompt], gen)).tokens, (await f32.generate([prompt], gen)).tokens);
  // the optimizer state is fp32 and covers the adapters only
  assert.equal(b16.memory()!.optimizer, 2 * adapterBytes);
  // merging folds the adapter into an fp32 copy of the base
  const merged = await b16.mergeAdapter();
  assert.deepEqual(merged.memory()!.weightsByDtype, { fp32: 4 * (f32.numParams - f32.trainableParams), bf16: 0 });
  assertClose((await merged.logprobs(batch)).logprobs.flat(), lp16.flat(), 1e-5, "merged logprobs");
  await Promise.all([f32.dispose(), b16.dispose(), merged.dispose()]);
});

// A GEMM bigger than one tile widens and multiplies tile by tile: each tile is its own sgemm, which
// OpenBLAS may round differently from one sgemm over the whole matrix (other kernel blocking), and the
// input gradient sums over the tiles in a different order. The numbers agree to float rounding.
test("the tiled GEMM path (a head wider than one tile) matches the fp32 base to 1e-6 relative", {
  timeout: 60_000,
}, async () => {
  const opts = { device: "cpu" as const, lora: { ...lora, targets: [...lora.targets] }, seed: 3 };
  const f32 = await Policy.fromPretrained(tiledDir, opts);
  const b16 = await Policy.fromPretrained(tiledDir, { ...opts, baseWeights: "bf16" });
  const lp32 = (await f32.logprobs(batch)).logprobs,
    lp16 = (await b16.logprobs(batch)).logprobs;
  lp32.forEach((row, i) => assertClose(lp16[i], row, 1e-6, `logprobs ${i}`));
  const gen = { maxTokens: 10, temperature: 0 };
  assert.deepEqual((await b16.generate([prompt], gen)).tokens, (await f32.generate([prompt], gen)).tokens);
  for (let step = 0; step < 2; step++) {
    const g32 = await f32.gradients(batch, { loss: "sft" });
    const g16 = await b16.gradients(batch, { loss: "sft" });
    assert.ok(Math.abs(g16.loss - g32.loss) <= 1e-6 * g32.loss, `step ${step} loss ${g16.loss} vs ${g32.loss}`);
    for (const [name, g] of g32.grads) assertClose(g16.grads.get(name)!, g, 1e-6, `step ${step} ${name}`);
    await f32.trainStep(batch, { loss: "sft", lr: 5e-2 });
    await b16.trainStep(batch, { loss: "sft", lr: 5e-2 });
  }
  await Promise.all([f32.dispose(), b16.dispose()]);
});

test("baseWeights is checked where it is given: bad values and the CUDA backend are refused", async () => {
  await assert.rejects(Policy.fromPretrained(dir, { baseWeights: "fp16" as "bf16" }), /baseWeights must be "fp32" or "bf16", got "fp16"/);
  await assert.rejects(
    Policy.fromPretrained(dir, { device: "cuda", baseWeights: "bf16", lora: { rank: 2 } }),
    /baseWeights "bf16" runs on the CPU backend only/,
  );
  // "auto" runs it on the CPU
  const p = await Policy.fromPretrained(dir, { device: "auto", baseWeights: "bf16" });
  assert.equal(p.device, "cpu");
  await p.dispose();
});

test("trainStep accumulates over the batch: its gradient is the token-weighted sum of per-sequence gradients", {
  timeout: 60_000,
}, async () => {
  const p = await Policy.fromPretrained(dir, {
    device: "cpu",
    lora: { ...lora, targets: [...lora.targets] },
    seed: 4,
    baseWeights: "bf16",
  });
  await p.trainStep(batch, { loss: "sft", lr: 5e-2 }); // B != 0, so every adapter has a gradient
  const whole = await p.gradients(batch, { loss: "sft" });
  // token-mean: sequence s weighs its response tokens over the batch's, n_s / N
  const n = batch.responses.map((r) => r.length);
  const N = n.reduce((a, b) => a + b, 0);
  const sum = new Map<string, Float64Array>();
  let loss = 0;
  for (let s = 0; s < n.length; s++) {
    const one = await p.gradients({ prompts: [batch.prompts[s]], responses: [batch.responses[s]] }, { loss: "sft" });
    loss += (n[s] / N) * one.loss;
    for (const [name, g] of one.grads) {
      const acc = sum.get(name) ?? new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) acc[i] += (n[s] / N) * g[i];
      sum.set(name, acc);
    }
  }
  assert.ok(Math.abs(loss - whole.loss) <= 1e-6 * Math.abs(whole.loss));
  let sq = 0;
  for (const [name, g] of whole.grads) {
    const acc = sum.get(name)!;
    assertClose(g, acc, 1e-5, name);
    for (const x of acc) sq += x * x;
  }
  const stats = await p.trainStep(batch, { loss: "sft", lr: 5e-2 });
  assert.ok(Math.abs(stats.gradNorm - Math.sqrt(sq)) <= 1e-5 * stats.gradNorm, `${stats.gradNorm} vs ${Math.sqrt(sq)}`);
  await p.dispose();
});

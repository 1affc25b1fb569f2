// Hugging Face layouts: an Arclight checkpoint rewritten by hand into GPT-2
// (Conv1D, transposed) and Qwen2 (split q/k/v, gate/up) layouts loads back
// through Policy.fromPretrained with bit-identical logprobs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy, type PolicyConfig } from "../src/native/index.js";

interface T {
  shape: number[];
  data: Float32Array;
}

function readSafetensors(path: string): Map<string, T> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, T>();
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__") continue;
    const bytes = buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    out.set(k, { shape: v.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) });
  }
  return out;
}

function writeSafetensors(path: string, tensors: Map<string, T>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [k, t] of tensors) {
    header[k] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(
    path,
    Buffer.concat([
      len,
      Buffer.from(json),
      ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
    ]),
  );
}

function transpose(t: T): T {
  const [r, c] = t.shape;
  const d = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) d[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: d };
}

function rows(t: T, from: number, to: number): T {
  const width = t.shape.length > 1 ? t.shape[1] : 1;
  return { shape: t.shape.length > 1 ? [to - from, width] : [to - from], data: t.data.slice(from * width, to * width) };
}

const dir = mkdtempSync(join(tmpdir(), "arclight-hf-"));
const batch = {
  prompts: [[1, 2, 3], [4]],
  responses: [
    [5, 6, 7, 8],
    [9, 10],
  ],
};

test("a GPT-2 HF directory (Conv1D weights) loads with the same logprobs as the policy it came from", async () => {
  const cfg: PolicyConfig = { family: "gpt2", layers: 2, dModel: 16, heads: 2, vocab: 20, ctx: 12, seed: 5 };
  const policy = await Policy.create(cfg);
  await policy.trainStep({ ...batch }, { loss: "sft", lr: 1e-2 }); // move off the init so biases are nonzero
  const src = join(dir, "g.safetensors");
  await policy.save(src);
  const w = readSafetensors(src);
  const hf = new Map<string, T>();
  const get = (k: string) => w.get(k)!;
  hf.set("wte.weight", get("wte"));
  hf.set("wpe.weight", get("wpe"));
  for (let i = 0; i < cfg.layers; i++) {
    const a = `h.${i}.`;
    hf.set(`${a}ln_1.weight`, get(`${a}ln1.weight`));
    hf.set(`${a}ln_1.bias`, get(`${a}ln1.bias`));
    hf.set(`${a}attn.c_attn.weight`, transpose(get(`${a}attn.qkv.weight`)));
    hf.set(`${a}attn.c_attn.bias`, get(`${a}attn.qkv.bias`));
    hf.set(`${a}attn.c_proj.weight`, transpose(get(`${a}attn.proj.weight`)));
    hf.set(`${a}attn.c_proj.bias`, get(`${a}attn.proj.bias`));
    hf.set(`${a}ln_2.weight`, get(`${a}ln2.weight`));
    hf.set(`${a}ln_2.bias`, get(`${a}ln2.bias`));
    hf.set(`${a}mlp.c_fc.weight`, transpose(get(`${a}mlp.fc.weight`)));
    hf.set(`${a}mlp.c_fc.bias`, get(`${a}mlp.fc.bias`));
    hf.set(`${a}mlp.c_proj.weight`, transpose(get(`${a}mlp.proj.weight`)));
    hf.set(`${a}mlp.c_proj.bias`, get(`${a}mlp.proj.bias`));
  }
  hf.set("ln_f.weight", get("lnf.weight"));
  hf.set("ln_f.bias", get("lnf.bias"));
  const out = join(dir, "gpt2");
  mkdirSync(out);
  writeSafetensors(join(out, "model.safetensors"), hf);
  writeFileSync(
    join(out, "config.json"),
    JSON.stringify({ model_type: "gpt2", n_layer: 2, n_head: 2, n_embd: 16, n_positions: 12, vocab_size: 20, layer_norm_epsilon: 1e-5 }),
  );
  const loaded = await Policy.fromPretrained(out);
  assert.equal(loaded.config.family, "gpt2");
  assert.deepEqual(await loaded.logprobs(batch), await policy.logprobs(batch));
});

test("a Qwen2 HF directory (split q/k/v, gate/up, GQA, untied head) loads with the same logprobs", async () => {
  const cfg: PolicyConfig = {
    family: "qwen2",
    layers: 2,
    dModel: 16,
    heads: 4,
    kvHeads: 2,
    ffn: 24,
    vocab: 20,
    ctx: 12,
    seed: 6,
    tieEmbeddings: false,
    normEps: 1e-6,
    ropeTheta: 1e6,
  };
  const policy = await Policy.create(cfg);
  await policy.trainStep({ ...batch }, { loss: "sft", lr: 1e-2 });
  const src = join(dir, "q.safetensors");
  await policy.save(src);
  const w = readSafetensors(src);
  const get = (k: string) => w.get(k)!;
  const D = 4,
    H = 4,
    KV = 2,
    F = 24;
  const hf = new Map<string, T>();
  hf.set("model.embed_tokens.weight", get("wte"));
  for (let i = 0; i < cfg.layers; i++) {
    const a = `h.${i}.`,
      b = `model.layers.${i}.`;
    const qkv = get(`${a}attn.qkv.weight`),
      qb = get(`${a}attn.qkv.bias`),
      gu = get(`${a}mlp.gate_up.weight`);
    hf.set(`${b}input_layernorm.weight`, get(`${a}ln1.weight`));
    hf.set(`${b}self_attn.q_proj.weight`, rows(qkv, 0, H * D));
    hf.set(`${b}self_attn.k_proj.weight`, rows(qkv, H * D, (H + KV) * D));
    hf.set(`${b}self_attn.v_proj.weight`, rows(qkv, (H + KV) * D, (H + 2 * KV) * D));
    hf.set(`${b}self_attn.q_proj.bias`, rows(qb, 0, H * D));
    hf.set(`${b}self_attn.k_proj.bias`, rows(qb, H * D, (H + KV) * D));
    hf.set(`${b}self_attn.v_proj.bias`, rows(qb, (H + KV) * D, (H + 2 * KV) * D));
    hf.set(`${b}self_attn.o_proj.weight`, get(`${a}attn.proj.weight`));
    hf.set(`${b}post_attention_layernorm.weight`, get(`${a}ln2.weight`));
    hf.set(`${b}mlp.gate_proj.weight`, rows(gu, 0, F));
    hf.set(`${b}mlp.up_proj.weight`, rows(gu, F, 2 * F));
    hf.set(`${b}mlp.down_proj.weight`, get(`${a}mlp.proj.weight`));
  }
  hf.set("model.norm.weight", get("lnf.weight"));
  hf.set("lm_head.weight", get("lm_head.weight"));
  const out = join(dir, "qwen2");
  mkdirSync(out);
  writeSafetensors(join(out, "model.safetensors"), hf);
  writeFileSync(
    join(out, "config.json"),
    JSON.stringify({
      model_type: "qwen2",
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      hidden_size: 16,
      intermediate_size: 24,
      rope_theta: 1e6,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
      vocab_size: 20,
      max_position_embeddings: 12,
    }),
  );
  const loaded = await Policy.fromPretrained(out);
  assert.deepEqual(loaded.config, policy.config);
  assert.deepEqual(await loaded.logprobs(batch), await policy.logprobs(batch));
});

test("a directory without config.json is rejected with a clear error", async () => {
  const empty = join(dir, "empty");
  mkdirSync(empty);
  await assert.rejects(Policy.fromPretrained(empty), /config\.json/);
});

// Hugging Face config.json handling in Policy.fromPretrained: Llama-family configs load, and every
// config key that would change the math in a way Arclight does not implement is refused with an
// error naming it (never run approximately); arbitrary configs never crash the process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Policy, loadAddon } from "../src/native/index.js";

const llama = {
  model_type: "llama",
  num_hidden_layers: 1,
  hidden_size: 8,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  intermediate_size: 12,
  vocab_size: 10,
  max_position_embeddings: 16,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: true,
};

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "arclight-hfcfg-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

// A directory with this config and no weights: config errors come before the weights are read.
async function loadError(config: unknown): Promise<string> {
  return withDir(async (dir) => {
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    try {
      await Policy.fromPretrained(dir, { device: "cpu" });
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  });
}

const refused: [string, Record<string, unknown>, RegExp][] = [
  ["attention_bias", { attention_bias: true }, /attention_bias/],
  ["mlp_bias", { mlp_bias: true }, /mlp_bias/],
  ["head_dim", { head_dim: 8 }, /head_dim/],
  ["hidden_act", { hidden_act: "gelu" }, /hidden_act "gelu"/],
  ["attention_dropout", { attention_dropout: 0.1 }, /attention_dropout/],
  ["rope_scaling linear", { rope_scaling: { rope_type: "linear", factor: 2 } }, /rope_scaling of type "linear"/],
  ["rope_scaling yarn", { rope_scaling: { type: "yarn", factor: 4 } }, /rope_scaling of type "yarn"/],
  [
    "rope_scaling llama3 without factors",
    { rope_scaling: { rope_type: "llama3", factor: 8, original_max_position_embeddings: 8192 } },
    /low_freq_factor/,
  ],
  ["model_type mistral", { model_type: "mistral" }, /unsupported model_type "mistral"/],
  ["qwen2 sliding window", { model_type: "qwen2", use_sliding_window: true }, /use_sliding_window/],
  ["qwen2 rope_scaling", { model_type: "qwen2", rope_scaling: { rope_type: "yarn", factor: 4 } }, /rope_scaling/],
];

for (const [what, patch, msg] of refused) {
  test(`a config with ${what} is refused with an error naming it`, { timeout: 20_000 }, async () => {
    const m = await loadError({ ...llama, ...patch });
    assert.match(m, msg);
  });
}

test("a Llama 3 config with rope_scaling llama3 is accepted up to the missing weights", { timeout: 20_000 }, async () => {
  const m = await loadError({
    ...llama,
    rope_scaling: { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: "llama3" },
  });
  assert.match(m, /neither model.safetensors nor model.safetensors.index.json/);
});

test("llama policies created directly validate ropeScaling and report it back", async () => {
  const p = await Policy.create({
    family: "llama",
    layers: 1,
    dModel: 8,
    heads: 2,
    kvHeads: 1,
    vocab: 10,
    ctx: 16,
    device: "cpu",
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 },
  });
  assert.deepEqual(p.config.ropeScaling, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 });
  assert.equal(p.numParams, 10 * 8 + (8 + 16 * 8 + 8 * 8 + 8 + 2 * 32 * 8 + 8 * 32) + 8); // no q/k/v bias
  await p.dispose();
  await assert.rejects(
    Policy.create({
      family: "qwen2",
      layers: 1,
      dModel: 8,
      heads: 2,
      device: "cpu",
      ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 },
    }),
    /ropeScaling is a llama setting/,
  );
  await assert.rejects(
    Policy.create({
      family: "llama",
      layers: 1,
      dModel: 8,
      heads: 2,
      device: "cpu",
      ropeScaling: { factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositionEmbeddings: 8 },
    }),
    /highFreqFactor must exceed/,
  );
});

test("fuzz: arbitrary config.json values load or throw an Error, never crash", { timeout: 60_000 }, async () => {
  const value = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -5, max: 70 }),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 6 }),
    fc.constant({ rope_type: "llama3" }),
  );
  const keys = [
    "model_type",
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "rope_theta",
    "rope_scaling",
    "tie_word_embeddings",
    "head_dim",
    "attention_bias",
  ];
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 8 }), async (patch) => {
      const m = await loadError({ ...llama, ...patch });
      assert.equal(typeof m, "string");
    }),
    { numRuns: 60 },
  );
  assert.ok(loadAddon().backends().cpu);
});

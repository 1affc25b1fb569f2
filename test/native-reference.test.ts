// Arclight's native trainer against an independent reference: test/reference/hf_reference.py,
// written from the Hugging Face model definitions (GPT-2, Qwen2, Llama) in float64 PyTorch,
// builds each family's HF directory with seeded random weights; Arclight loads it with
// Policy.fromPretrained, and logprobs, the SFT loss + gradients and a GRPO loss (clipped
// ratio, k3 KL, entropy bonus) + gradients must agree to fp32 precision (llm.c's ~1e-5); the
// directory policy.saveHF writes is read back by the same reference with the same logprobs (the
// reference stands in for transformers, which cannot be installed here: no PyPI).
// Needs Debian's python3-torch (scripts/ensure-torch.sh); skips with a message without it.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy } from "../src/native/index.js";

const PY = "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "reference", "hf_reference.py");

function torchMissing(): string | undefined {
  const r = spawnSync(PY, ["-c", "import torch"], { encoding: "utf8", timeout: 60_000 });
  if (r.status === 0) return undefined;
  return `skipped: PyTorch is not importable by ${PY} (run scripts/ensure-torch.sh to install Debian's python3-torch)`;
}
const skip = torchMissing();

function py<T>(req: Record<string, unknown>): T {
  const r = spawnSync(PY, [SCRIPT], { input: JSON.stringify(req), encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`hf_reference.py ${String(req.cmd)} failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as T;
}

interface Checked {
  logprobs: number[];
  entropy: number[];
  sft: { loss: number; grads: Record<string, number[]> };
  grpo?: { loss: number; grads: Record<string, number[]> };
  also: number[][];
}

const batch = {
  prompts: [
    [1, 2, 3],
    [4, 5],
  ],
  responses: [
    [6, 7, 8, 9],
    [10, 11, 12],
  ],
};

// Every trained tensor, norm-wise (llm.c style): |a - b| / |b| per tensor; a tensor whose gradient
// is tiny next to the whole (|b| < 1e-3 of the global norm) is held to the global norm instead.
function compareGrads(what: string, got: Map<string, Float32Array>, want: Record<string, number[]>, tol: number): void {
  assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort(), `${what}: same parameter set`);
  const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
  const global = Math.sqrt(Object.values(want).reduce((s, w) => s + norm(w) ** 2, 0));
  let d = 0;
  for (const [name, g] of got) {
    const w = want[name];
    assert.equal(g.length, w.length, `${what} ${name}: size`);
    const diff = norm(Array.from(g, (x, i) => x - w[i]));
    d += diff ** 2;
    const scale = Math.max(norm(w), 1e-3 * global);
    assert.ok(diff / scale < tol, `${what} ${name}: relative error ${(diff / scale).toExponential(2)} (|ref| ${norm(w).toExponential(2)})`);
  }
  assert.ok(Math.sqrt(d) / global < tol, `${what}: global relative error ${(Math.sqrt(d) / global).toExponential(2)}`);
}

const families: { name: string; family: string; dtype: string; shards: number; config: Record<string, unknown> }[] = [
  {
    name: "GPT-2 (Conv1D, LayerNorm, GELU-tanh, learned positions), F32",
    family: "gpt2",
    dtype: "F32",
    shards: 1,
    config: {
      model_type: "gpt2",
      n_layer: 2,
      n_embd: 16,
      n_head: 2,
      n_positions: 16,
      vocab_size: 24,
      layer_norm_epsilon: 1e-5,
      activation_function: "gelu_new",
    },
  },
  {
    name: "Qwen2 (q/k/v bias, GQA 4:2, untied), BF16 in two shards",
    family: "qwen2",
    dtype: "BF16",
    shards: 2,
    config: {
      model_type: "qwen2",
      num_hidden_layers: 2,
      hidden_size: 16,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 24,
      vocab_size: 24,
      max_position_embeddings: 32,
      rms_norm_eps: 1e-6,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      hidden_act: "silu",
      use_sliding_window: false,
      attention_dropout: 0.0,
    },
  },
  {
    name: "Llama 3.2 (GQA 4:1, tied, rope_theta 5e5, llama3 rope_scaling), F16",
    family: "llama",
    dtype: "F16",
    shards: 1,
    config: {
      model_type: "llama",
      num_hidden_layers: 2,
      hidden_size: 16,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      intermediate_size: 24,
      vocab_size: 24,
      max_position_embeddings: 64,
      rms_norm_eps: 1e-5,
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      hidden_act: "silu",
      attention_bias: false,
      mlp_bias: false,
      head_dim: 8,
      attention_dropout: 0.0,
      pretraining_tp: 1,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8, rope_type: "llama3" },
    },
  },
  {
    name: "TinyLlama / SmolLM2 layout (untied, plain RoPE), F32 in three shards",
    family: "llama",
    dtype: "F32",
    shards: 3,
    config: {
      model_type: "llama",
      num_hidden_layers: 2,
      hidden_size: 16,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      intermediate_size: 20,
      vocab_size: 24,
      max_position_embeddings: 32,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      hidden_act: "silu",
      rope_scaling: null,
    },
  },
];

const root = skip ? "" : mkdtempSync(join(tmpdir(), "arclight-ref-"));
if (!skip) {
  py({
    cmd: "make",
    models: families.map((f, k) => ({
      dir: join(root, String(k)),
      family: f.family,
      config: f.config,
      seed: 100 + k,
      dtype: f.dtype,
      shards: f.shards,
    })),
  });
  after(() => rmSync(root, { recursive: true, force: true }));
}

for (const [k, f] of families.entries()) {
  test(`${f.name}: logprobs, SFT and GRPO gradients match the HF-definition reference`, { skip, timeout: 120_000 }, async () => {
    const dir = join(root, String(k));
    {
      const policy = await Policy.fromPretrained(dir, { device: "cpu" });
      assert.equal(policy.config.family, f.family);
      const mine = await policy.logprobs(batch);
      const lp = mine.logprobs.flat();
      // GRPO inputs built from the current logprobs so some ratios clip and some do not
      const shifts = [0.05, -0.3, 0.25, 0.0, -0.1, 0.4, 0.15];
      const oldLogprobs = batch.responses.map((r, s) => r.map((_, t) => lp[s * 4 + t] + shifts[(s * 4 + t) % shifts.length]));
      const flatOld = oldLogprobs.flat();
      const refLogprobs = batch.responses.map((r, s) => r.map((_, t) => lp[s * 4 + t] - 0.2 + 0.05 * t));
      const grpo = {
        advantages: [0.7, -1.2],
        oldLogprobs: flatOld,
        refLogprobs: refLogprobs.flat(),
        clipLow: 0.2,
        clipHigh: 0.28,
        klBeta: 0.1,
        entropyCoef: 0.01,
      };
      // export first: the reference reads policy.saveHF's directory (HF names and layouts) in the same run
      await policy.saveHF(join(dir, "export"));
      const ref = py<Checked>({ cmd: "check", dir, batch, grpo, also: [join(dir, "export")] });

      for (let i = 0; i < lp.length; i++)
        assert.ok(
          Math.abs(lp[i] - ref.logprobs[i]) < 2e-5 * Math.max(1, Math.abs(ref.logprobs[i])),
          `logprob ${i}: ${lp[i]} vs ${ref.logprobs[i]}`,
        );
      const ent = mine.entropy.flat();
      for (let i = 0; i < ent.length; i++)
        assert.ok(Math.abs(ent[i] - ref.entropy[i]) < 2e-5 * Math.max(1, ref.entropy[i]), `entropy ${i}`);

      const sft = await policy.gradients(batch, { loss: "sft" });
      assert.ok(Math.abs(sft.loss - ref.sft.loss) < 1e-5 * Math.abs(ref.sft.loss), `sft loss ${sft.loss} vs ${ref.sft.loss}`);
      compareGrads("sft", sft.grads, ref.sft.grads, 1e-5);

      const g = await policy.gradients(
        { ...batch, advantages: grpo.advantages, oldLogprobs, refLogprobs },
        { loss: "grpo", clipLow: grpo.clipLow, clipHigh: grpo.clipHigh, klBeta: grpo.klBeta, entropyCoef: grpo.entropyCoef },
      );
      assert.ok(
        Math.abs(g.loss - ref.grpo!.loss) < 1e-5 * Math.max(1e-3, Math.abs(ref.grpo!.loss)),
        `grpo loss ${g.loss} vs ${ref.grpo!.loss}`,
      );
      compareGrads("grpo", g.grads, ref.grpo!.grads, 1e-5);
      const back = ref.also[0];
      for (let i = 0; i < lp.length; i++)
        assert.ok(Math.abs(back[i] - ref.logprobs[i]) < 1e-6, `exported logprob ${i}: ${back[i]} vs ${ref.logprobs[i]}`);
      await policy.dispose();
    }
  });
}

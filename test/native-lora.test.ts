// LoRA adapters over a frozen base (PEFT semantics): the adapter gradients match float64 finite
// differences, only adapters change in a train step, a fresh adapter leaves the base's logprobs
// unchanged, PEFT-format save/load round-trips, merging folds the adapter into the base with the
// same logprobs, and saveHF writes a Hugging Face directory that loads back with the same logprobs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy, loadAddon, type PolicyConfig } from "../src/native/index.js";
import { GRADCHECK_BATCH, assertGradientsMatch, gradcheckConfig } from "./helpers/gradcheck.js";

const addon = loadAddon();
const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;

for (const family of ["llama", "qwen2"] as const) {
  test(`${family}: adapter gradients on every target match float64 finite differences`, () => {
    const cfg = gradcheckConfig(family, { lora: { rank: 2, alpha: 3, dropout: 0, targets: [...ALL] } });
    const r = addon.gradcheck(cfg, GRADCHECK_BATCH, { loss: "grpo", klBeta: 0.1, entropyCoef: 0.05, clipLow: 0.9, clipHigh: 10, seed: 3 });
    // adapters only: 2 layers x (q 2*8+8*2, k 2*8+4*2, v same, o 2*8+8*2, gate 2*8+12*2, up same, down 2*12+8*2)
    assert.equal(r.checked, 2 * (32 + 24 + 24 + 32 + 40 + 40 + 40));
    assertGradientsMatch(r, `${family} adapters`);
  });
}

const base: PolicyConfig = {
  family: "llama",
  layers: 2,
  dModel: 16,
  heads: 4,
  kvHeads: 2,
  vocab: 32,
  ctx: 32,
  seed: 9,
  device: "cpu",
  tieEmbeddings: false,
};
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

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "arclight-lora-"));
}

test("fromPretrained with lora: fresh adapters keep the base's logprobs, train steps change only adapters, save/load/merge/saveHF agree", {
  timeout: 60_000,
}, async () => {
  const dir = tmp();
  try {
    const plain = await Policy.create(base);
    await plain.saveHF(join(dir, "base"));
    const cfgJson = JSON.parse(readFileSync(join(dir, "base", "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(cfgJson.model_type, "llama");
    assert.deepEqual(cfgJson.architectures, ["LlamaForCausalLM"]);
    const before = (await plain.logprobs(batch)).logprobs;

    const lora = await Policy.fromPretrained(join(dir, "base"), {
      device: "cpu",
      lora: { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] },
      seed: 1,
    });
    assert.deepEqual(lora.config.lora, { rank: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"] });
    assert.equal(lora.trainableParams, 2 * (4 * 16 + 16 * 4 + 4 * 16 + 8 * 4 + 4 * 64 + 16 * 4));
    assert.equal(lora.numParams, plain.numParams + lora.trainableParams);
    assert.deepEqual((await lora.logprobs(batch)).logprobs, before, "B = 0 at init: the adapter adds nothing yet");

    const g = await lora.gradients(batch, { loss: "sft" });
    assert.ok(
      [...g.grads.keys()].every((k) => k.includes(".lora.")),
      "only adapter gradients exist",
    );
    for (let i = 0; i < 3; i++) await lora.trainStep(batch, { loss: "sft", lr: 1e-2 });
    // gradients and AdamW moments exist for the adapters only
    assert.deepEqual(lora.memory(), {
      weights: 4 * lora.numParams,
      weightsByDtype: { fp32: 4 * lora.numParams, bf16: 0 },
      gradients: 4 * lora.trainableParams,
      optimizer: 8 * lora.trainableParams,
      total: 4 * lora.numParams + 12 * lora.trainableParams,
    });
    const tuned = (await lora.logprobs(batch)).logprobs;
    assert.ok(tuned.flat().reduce((s, x) => s + x, 0) > before.flat().reduce((s, x) => s + x, 0), "SFT raised the batch's logprobs");
    const generated = await lora.generate([[1, 2, 3]], { maxTokens: 4, temperature: 0 });
    assert.equal(generated.tokens[0].length, 4);

    // PEFT round trip
    await lora.saveAdapter(join(dir, "adapter"));
    const ac = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(ac.peft_type, "LORA");
    assert.equal(ac.r, 4);
    assert.deepEqual(ac.target_modules, ["q_proj", "v_proj", "down_proj"]);
    const again = await Policy.fromPretrained(join(dir, "base"), { device: "cpu", adapter: join(dir, "adapter") });
    assert.deepEqual((await again.logprobs(batch)).logprobs, tuned);
    const other = await Policy.fromPretrained(join(dir, "base"), {
      device: "cpu",
      lora: { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] },
      seed: 5,
    });
    await other.loadAdapter(join(dir, "adapter"));
    assert.deepEqual((await other.logprobs(batch)).logprobs, tuned);
    const mismatched = await Policy.fromPretrained(join(dir, "base"), { device: "cpu", lora: { rank: 2, targets: ["q_proj"] } });
    await assert.rejects(mismatched.loadAdapter(join(dir, "adapter")), /does not match/);

    // merge and export
    const merged = await lora.mergeAdapter();
    assert.equal(merged.config.lora, undefined);
    assert.equal(merged.numParams, plain.numParams);
    const m = (await merged.logprobs(batch)).logprobs.flat();
    tuned.flat().forEach((x, i) => assert.ok(Math.abs(x - m[i]) < 1e-5, `merged logprob ${i}: ${m[i]} vs ${x}`));
    await lora.saveHF(join(dir, "export"));
    const exported = await Policy.fromPretrained(join(dir, "export"), { device: "cpu" });
    const e = (await exported.logprobs(batch)).logprobs.flat();
    tuned.flat().forEach((x, i) => assert.ok(Math.abs(x - e[i]) < 1e-5, `exported logprob ${i}`));

    // checkpoints keep the adapters and their optimizer state
    await lora.save(join(dir, "ckpt.safetensors"));
    const loaded = await Policy.load(join(dir, "ckpt.safetensors"), { device: "cpu" });
    assert.deepEqual(loaded.config.lora, lora.config.lora);
    assert.deepEqual((await loaded.logprobs(batch)).logprobs, tuned);
    const s1 = await lora.trainStep(batch, { loss: "sft", lr: 1e-2 });
    const s2 = await loaded.trainStep(batch, { loss: "sft", lr: 1e-2 });
    assert.equal(s2.loss, s1.loss);
    assert.deepEqual((await loaded.logprobs(batch)).logprobs, (await lora.logprobs(batch)).logprobs);
    for (const p of [plain, lora, again, other, mismatched, merged, exported, loaded]) await p.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("saveHF round-trips every family with the same logprobs", { timeout: 30_000 }, async () => {
  const dir = tmp();
  try {
    const configs: PolicyConfig[] = [
      { family: "gpt2", layers: 2, dModel: 16, heads: 2, vocab: 32, ctx: 16, seed: 1, device: "cpu" },
      { family: "qwen2", layers: 2, dModel: 16, heads: 4, kvHeads: 2, vocab: 32, ctx: 16, seed: 2, device: "cpu", tieEmbeddings: false },
      {
        family: "llama",
        layers: 1,
        dModel: 16,
        heads: 2,
        kvHeads: 1,
        vocab: 32,
        ctx: 16,
        seed: 3,
        device: "cpu",
        ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 },
      },
    ];
    for (const [k, c] of configs.entries()) {
      const p = await Policy.create(c);
      await p.saveHF(join(dir, String(k)));
      const q = await Policy.fromPretrained(join(dir, String(k)), { device: "cpu" });
      assert.deepEqual(q.config, p.config, `${c.family}: same config`);
      assert.deepEqual((await q.logprobs(batch)).logprobs, (await p.logprobs(batch)).logprobs, `${c.family}: same logprobs`);
      await p.dispose();
      await q.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad LoRA options and adapters are refused with clear errors", { timeout: 30_000 }, async () => {
  await assert.rejects(Policy.create({ ...base, lora: { rank: 0 } }), /lora.rank/);
  await assert.rejects(Policy.create({ ...base, lora: { rank: 2, targets: ["c_attn" as "q_proj"] } }), /lora.targets/);
  await assert.rejects(Policy.create({ ...base, lora: { rank: 2, dropout: 1 } }), /lora.dropout/);
  await assert.rejects(
    Policy.create({ family: "gpt2", layers: 1, dModel: 8, heads: 2, device: "cpu", lora: { rank: 2 } }),
    /qwen2 or llama/,
  );
  const p = await Policy.create(base);
  await assert.rejects(p.saveAdapter(join(tmpdir(), "arclight-never")), /no LoRA adapter/);
  await assert.rejects(p.mergeAdapter(), /no LoRA adapters/);
  await assert.rejects(p.loadAdapter(join(tmpdir(), "arclight-missing-adapter")), /adapter_config.json: cannot open/);
  await p.dispose();
});

test("LoRA dropout trains (masks on the adapter input only while training) and leaves logprobs deterministic", {
  timeout: 30_000,
}, async () => {
  const p = await Policy.create({ ...base, lora: { rank: 4, alpha: 8, dropout: 0.3, targets: ["q_proj", "up_proj"] } });
  const a = (await p.logprobs(batch)).logprobs;
  const s = await p.trainStep(batch, { loss: "sft", lr: 1e-2 });
  assert.ok(Number.isFinite(s.loss) && s.gradNorm > 0);
  const b1 = (await p.logprobs(batch)).logprobs,
    b2 = (await p.logprobs(batch)).logprobs;
  assert.deepEqual(b1, b2);
  assert.notDeepEqual(b1, a);
  await p.dispose();
});

// Checkpoints carry the optimizer: AdamW moments (optim.m.* / optim.v.*) and the step counter, so
// a run saved and resumed is bit-identical to one that never stopped. Files without the moments
// (written before the first step, or by older versions) load with a fresh optimizer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy, type PolicyConfig, type TrainOptions } from "../src/native/index.js";

const dir = mkdtempSync(join(tmpdir(), "arclight-ckpt-"));
const configs: PolicyConfig[] = [
  { family: "gpt2", layers: 2, dModel: 32, heads: 4, vocab: 40, ctx: 32, seed: 5, device: "cpu" },
  { family: "qwen2", layers: 2, dModel: 32, heads: 4, kvHeads: 2, vocab: 40, ctx: 32, seed: 6, tieEmbeddings: false, device: "cpu" },
];
const batch = {
  prompts: [[1, 2, 3], [4, 5], [6]],
  responses: [
    [7, 8, 9, 10],
    [11, 12],
    [13, 14, 15],
  ],
  rewards: [1, 0, 0.5],
  groupSize: 3,
};
// warmup + cosine: the step counter decides every learning rate; decay and clipping on
const opts: TrainOptions = { loss: "grpo", lr: 2e-2, warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1, weightDecay: 0.1, maxGradNorm: 0.5 };
const sftOpts: TrainOptions = { ...opts, loss: "sft" };

// Everything a step reports except wall-clock timings.
// Alternates GRPO and SFT steps by the policy's own step count, so a resumed run continues the pattern.
async function steps(p: Policy, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const s = await p.trainStep(batch, p.step % 2 ? sftOpts : opts);
    out.push([s.loss, s.pgLoss, s.kl, s.entropy, s.clipFrac, s.gradNorm, s.lr, s.step]);
  }
  return out;
}

interface Raw {
  meta: Record<string, string>;
  tensors: Map<string, { dtype: string; shape: number[]; bytes: Buffer }>;
}
function readRaw(path: string): Raw {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const meta = (header.__metadata__ ?? {}) as unknown as Record<string, string>;
  const tensors = new Map<string, { dtype: string; shape: number[]; bytes: Buffer }>();
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__") continue;
    tensors.set(k, { dtype: v.dtype, shape: v.shape, bytes: buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]) });
  }
  return { meta, tensors };
}
function writeRaw(path: string, raw: Raw): void {
  const header: Record<string, unknown> = { __metadata__: raw.meta };
  let off = 0;
  for (const [k, t] of raw.tensors) {
    header[k] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...[...raw.tensors.values()].map((t) => t.bytes)]));
}

test("train 3 steps, save, load, train 2 more equals 5 steps straight, exactly (both families)", async () => {
  for (const cfg of configs) {
    const straight = await Policy.create(cfg);
    const all = await steps(straight, 5);

    const first = await Policy.create(cfg);
    const head = await steps(first, 3);
    const path = join(dir, `${cfg.family}-resume.safetensors`);
    await first.save(path);
    const resumed = await Policy.load(path, { device: "cpu" });
    assert.equal(resumed.step, 3);
    const tail = await steps(resumed, 2);
    assert.deepEqual([...head, ...tail], all, `${cfg.family}: resumed run diverged`);
    assert.deepEqual(await resumed.logprobs(batch), await straight.logprobs(batch));
    // the file holds the moments of every parameter next to its weights
    const raw = readRaw(path);
    assert.equal(raw.meta["arclight.optim"], "adamw");
    assert.equal(raw.meta["arclight.step"], "3");
    const weights = [...raw.tensors.keys()].filter((k) => !k.startsWith("optim."));
    for (const w of weights) {
      assert.ok(raw.tensors.has(`optim.m.${w}`), `optim.m.${w} saved`);
      assert.ok(raw.tensors.has(`optim.v.${w}`), `optim.v.${w} saved`);
    }
    assert.equal(raw.tensors.size, 3 * weights.length);
  }
});

test("a checkpoint without optimizer state loads with a fresh optimizer at its step", async () => {
  const cfg = configs[1];
  // saved before any step: no moments in the file, and training from it equals a fresh policy's
  const fresh = await Policy.create(cfg);
  const p0 = join(dir, "fresh.safetensors");
  await fresh.save(p0);
  assert.equal(readRaw(p0).meta["arclight.optim"], undefined);
  assert.ok(![...readRaw(p0).tensors.keys()].some((k) => k.startsWith("optim.")));
  const loaded = await Policy.load(p0, { device: "cpu" });
  assert.deepEqual(await steps(loaded, 2), await steps(fresh, 2));

  // an older file (weights and step, no moments): same weights and step, fresh moments
  const trained = await Policy.create(cfg);
  await steps(trained, 3);
  const full = join(dir, "full.safetensors");
  await trained.save(full);
  const raw = readRaw(full);
  delete raw.meta["arclight.optim"];
  for (const k of [...raw.tensors.keys()]) if (k.startsWith("optim.")) raw.tensors.delete(k);
  const old = join(dir, "old.safetensors");
  writeRaw(old, raw);
  const a = await Policy.load(old, { device: "cpu" });
  const b = await Policy.load(full, { device: "cpu" });
  assert.equal(a.step, 3);
  assert.deepEqual(await a.logprobs(batch), await b.logprobs(batch));
  const [sa] = await steps(a, 1);
  const [sb] = await steps(b, 1);
  assert.deepEqual((sa as number[]).slice(0, 2), (sb as number[]).slice(0, 2), "same weights: same loss before the update");
  assert.notDeepEqual(await a.logprobs(batch), await b.logprobs(batch), "fresh moments give a different update than resumed ones");
});

test("optimizer state that is incomplete or unannounced is rejected with the tensor's name", async () => {
  const p = await Policy.create(configs[0]);
  await steps(p, 1);
  const full = join(dir, "bad-src.safetensors");
  await p.save(full);
  const missing = readRaw(full);
  missing.tensors.delete("optim.v.wte");
  writeRaw(join(dir, "missing.safetensors"), missing);
  await assert.rejects(Policy.load(join(dir, "missing.safetensors")), /optim\.v\.wte missing/);
  const unannounced = readRaw(full);
  delete unannounced.meta["arclight.optim"];
  writeRaw(join(dir, "unannounced.safetensors"), unannounced);
  await assert.rejects(Policy.load(join(dir, "unannounced.safetensors")), /optim\.\S+ without arclight\.optim/);
  const unknown = readRaw(full);
  unknown.meta["arclight.optim"] = "lion";
  writeRaw(join(dir, "unknown.safetensors"), unknown);
  await assert.rejects(Policy.load(join(dir, "unknown.safetensors")), /unknown optimizer state "lion"/);
});

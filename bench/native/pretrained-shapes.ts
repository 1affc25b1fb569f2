// Real-model shapes on the CPU with random weights: SmolLM2-135M (llama) and Qwen2.5-0.5B (qwen2),
// shapes from their config.json. Prefill and decode tokens/s, one LoRA train step (rank 16 on all
// seven projections over the frozen base) with its time and the process's peak RSS, each as a
// fraction of the fp32 GEMM peak measured in the same run (the tuned BLAS when loaded).
// Run: node --import tsx bench/native/pretrained-shapes.ts [smollm2|qwen2.5] [--quick] [--bf16]
// (one model per process, so the peak RSS is that model's). --bf16 instead compares fp32 and bf16
// storage of a pretrained base at that shape (bf16-weights.ts).
import { Policy, loadAddon, type PolicyConfig } from "../../src/native/index.js";
import { compareBaseWeights } from "./bf16-weights.js";

const which = process.argv[2] ?? "smollm2";
const quick = process.argv.includes("--quick");
const shapes: Record<string, PolicyConfig> = {
  // HuggingFaceTB/SmolLM2-135M config.json
  smollm2: {
    family: "llama",
    layers: 30,
    dModel: 576,
    heads: 9,
    kvHeads: 3,
    ffn: 1536,
    vocab: 49152,
    ctx: 2048,
    ropeTheta: 100000,
    normEps: 1e-5,
    tieEmbeddings: true,
  },
  // Qwen/Qwen2.5-0.5B config.json
  "qwen2.5": {
    family: "qwen2",
    layers: 24,
    dModel: 896,
    heads: 14,
    kvHeads: 2,
    ffn: 4864,
    vocab: 151936,
    ctx: 32768,
    ropeTheta: 1000000,
    normEps: 1e-6,
    tieEmbeddings: true,
  },
};
const cfg = shapes[which];
if (!cfg) throw new Error(`unknown shape ${which}; one of ${Object.keys(shapes).join(", ")}`);
if (process.argv.includes("--bf16")) {
  await compareBaseWeights(which, cfg as Parameters<typeof compareBaseWeights>[1], quick);
  process.exit(0);
}

const addon = loadAddon();
const info = addon.backends();
// best of runs before and after the model work, so a busy moment on a shared machine does not set the peak
const gemmRuns: number[] = [];
const measurePeak = () => {
  for (let i = 0; i < 3; i++) gemmRuns.push(addon.benchMatmul({ n: 512, c: 512, oc: 512, reps: 5 }));
  return Math.max(...gemmRuns);
};
measurePeak();

const C = cfg.dModel,
  L = cfg.layers,
  V = cfg.vocab!,
  F = cfg.ffn!,
  H = cfg.heads,
  KV = cfg.kvHeads!,
  D = C / H;
const blockParams = L * (C * (H + 2 * KV) * D + H * D * C + 3 * C * F); // matmul weights per token
const row = (k: string, v: string) => console.log(`${k.padEnd(46)} ${v}`);
const rss = () => process.resourceUsage().maxRSS / 1024; // MiB

const lora = { rank: 16, alpha: 32, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const };
const t0 = Date.now();
const policy = await Policy.create({ ...cfg, seed: 1, device: "cpu", lora: { ...lora, targets: [...lora.targets] } });
const initS = (Date.now() - t0) / 1000;

// prefill: 2 prompts of 128 tokens, one generated token each (its decode step is noise next to the prefill)
const P = quick ? 64 : 128;
const prompts = Array.from({ length: 2 }, (_, s) => Array.from({ length: P }, (_, i) => (s * 7919 + i * 104729) % V));
const pre = await policy.generate(prompts, { maxTokens: 1, temperature: 0 });
const prefillTokS = (2 * P) / pre.seconds;
const prefillGflops = (prefillTokS * 2 * blockParams + (2 / pre.seconds) * 2 * V * C) / 1e9; // logits only for the last row
// decode: 4 samples of 32 tokens after a 16-token prompt, all rows batched per step
const dec = await policy.generate([prompts[0].slice(0, 16)], { n: 4, maxTokens: quick ? 8 : 32, temperature: 1, seed: 1 });
const decodeTokS = dec.tokensPerSecond;

// one LoRA step: S sequences of Pp + R tokens, SFT on the responses
const S = 2,
  Pp = 16,
  R = quick ? 16 : 48;
const batch = {
  prompts: Array.from({ length: S }, (_, s) => Array.from({ length: Pp }, (_, i) => (s * 31 + i * 7) % V)),
  responses: Array.from({ length: S }, (_, s) => Array.from({ length: R }, (_, i) => (s * 17 + i * 13) % V)),
};
await policy.trainStep(batch, { loss: "sft", lr: 1e-4 }); // warm-up (allocations)
const step = await policy.trainStep(batch, { loss: "sft", lr: 1e-4 });
const T = Pp + R;
// frozen base: forward 2*W per token, backward only the input gradients (another 2*W); the head on R+1 rows per sequence
const stepFlops = S * (4 * blockParams * T + 4 * V * C * (R + 1) + L * 6 * C * ((T * (T + 1)) / 2));
const stepGflops = stepFlops / step.seconds / 1e9;

const peak = measurePeak();
row(
  `model ${which} (random weights)`,
  `${(policy.numParams / 1e6).toFixed(1)}M params, LoRA r16 all projections: ${(policy.trainableParams / 1e6).toFixed(2)}M trained, init ${initS.toFixed(1)} s`,
);
row("fp32 GEMM peak 512^3", `${peak.toFixed(1)} GFLOP/s (${info.blas ? info.blasLibrary : `own kernel: ${info.blasReason}`})`);
row(
  `prefill 2 x ${P} tokens`,
  `${prefillTokS.toFixed(0)} tokens/s, ${prefillGflops.toFixed(1)} GFLOP/s = ${((100 * prefillGflops) / peak).toFixed(0)}% of peak`,
);
row("decode 4 samples (batched rows)", `${decodeTokS.toFixed(1)} tokens/s`);
row(
  `LoRA SFT step ${S} x ${T} tokens`,
  `${(step.seconds * 1000).toFixed(0)} ms, ${stepGflops.toFixed(1)} GFLOP/s = ${((100 * stepGflops) / peak).toFixed(0)}% of peak`,
);
row("peak RSS (whole process)", `${rss().toFixed(0)} MiB (fp32 weights ${((policy.numParams * 4) / 2 ** 20).toFixed(0)} MiB)`);
await policy.dispose();

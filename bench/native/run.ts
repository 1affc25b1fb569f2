// CPU backend throughput: training tokens/s and achieved GFLOP/s against the
// tuned BLAS's sgemm peak (OpenBLAS when installed; else Arclight's own GEMM),
// both measured in the same run, the same step on the own kernels for the speedup, and
// generation tokens/s with the KV cache against the no-cache reference path.
// On a CUDA device (else one SKIP line): the same training step on device "cuda" in fp32 and bf16
// and a GPT-2 small step in bf16, with MFU against the bf16 GEMM peak measured in the same run.
// Run: node --import tsx bench/native/run.ts [--quick]
import { Policy, loadAddon, type PolicyConfig } from "../../src/native/index.js";

const quick = process.argv.includes("--quick");
const addon = loadAddon();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// 1. GEMM peaks on large square shapes, best of several runs: the own kernel, and the BLAS the model uses.
const info = addon.backends();
const peakOf = (kernel: "own" | "blas") =>
  Math.max(...Array.from({ length: quick ? 2 : 5 }, () => addon.benchMatmul({ n: 512, c: 512, oc: 512, reps: quick ? 4 : 10, kernel })));
const ownPeak = peakOf("own");
const blasPeak = info.blasLoaded ? peakOf("blas") : undefined;
const peak = blasPeak ?? ownPeak;

// 2. Training step (SFT, fp32) on a small GPT-2 shape.
const cfg: PolicyConfig = { family: "gpt2", layers: 4, dModel: 256, heads: 4, vocab: 260, ctx: 256, seed: 1, device: "cpu" };
const policy = await Policy.create(cfg);
const S = 8,
  P = 32,
  R = 96;
const prompts = Array.from({ length: S }, (_, s) => Array.from({ length: P }, (_, i) => (s * 31 + i * 7) % 256));
const responses = Array.from({ length: S }, (_, s) => Array.from({ length: R }, (_, i) => (s * 17 + i * 13) % 256));
const C = cfg.dModel,
  L = cfg.layers,
  V = cfg.vocab!,
  T = P + R;
const matmulParams = L * (3 * C * C + C * C + 8 * C * C);
// forward FLOPs: 2 per matmul weight per token, attention 4*t*C per layer at position t, head only on scored rows (R + 1 per sequence)
const fwd = S * (2 * matmulParams * T + L * 4 * C * ((T * (T + 1)) / 2) + 2 * V * C * (R + 1));
const flopsPerStep = 3 * fwd;
const timeStep = async () => {
  await policy.trainStep({ prompts, responses }, { loss: "sft", lr: 1e-4 }); // warm-up
  const times: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) times.push((await policy.trainStep({ prompts, responses }, { loss: "sft", lr: 1e-4 })).seconds);
  return median(times);
};
const stepS = await timeStep();
let ownStepS: number | undefined;
if (info.blasLoaded) {
  addon.setBlas(false);
  ownStepS = await timeStep();
  addon.setBlas(true);
}
const trainTokS = (S * T) / stepS;
const trainGflops = flopsPerStep / stepS / 1e9;

// 3. Generation: 4 prompts x 4 samples x 64 tokens, KV cache vs full recompute.
const genPrompts = prompts.slice(0, 4);
const g = await policy.generate(genPrompts, { n: 4, maxTokens: 64, seed: 1 });
const gRef = await policy.generate(genPrompts.slice(0, 1), { n: 1, maxTokens: quick ? 16 : 64, seed: 1, useCache: false });

const row = (k: string, v: string) => console.log(`${k.padEnd(44)} ${v}`);
row("matmul peak own kernel (512^3 fp32)", `${ownPeak.toFixed(1)} GFLOP/s`);
row(
  "matmul peak BLAS sgemm (512^3 fp32)",
  blasPeak ? `${blasPeak.toFixed(1)} GFLOP/s (${info.blasLibrary}), ${(blasPeak / ownPeak).toFixed(1)}x own` : `none: ${info.blasReason}`,
);
row(`train step gpt2 L${L} C${C} ${S}x${T} tok`, `${(stepS * 1000).toFixed(1)} ms`);
row("train tokens/s", trainTokS.toFixed(0));
row(
  "train achieved",
  `${trainGflops.toFixed(1)} GFLOP/s = ${((100 * trainGflops) / peak).toFixed(0)}% of the measured ${blasPeak ? "BLAS sgemm" : "own GEMM"} peak`,
);
if (ownStepS !== undefined)
  row("same step on the own kernels", `${(ownStepS * 1000).toFixed(1)} ms; BLAS speedup ${(ownStepS / stepS).toFixed(2)}x`);
row("generate tokens/s (KV cache, 16 samples)", g.tokensPerSecond.toFixed(0));
row("generate tokens/s (no cache, 1 sample)", gRef.tokensPerSecond.toFixed(0));
row("cache speedup", `${(g.tokensPerSecond / gRef.tokensPerSecond).toFixed(1)}x`);

// 4. CUDA: tight-loop GEMM peaks of our kernels, then training steps on the device.
const backends = addon.backends();
if (!backends.cuda) {
  console.log(`SKIP cuda: ${backends.cudaCompiled ? `no CUDA device (${backends.cudaReason})` : "the addon was built without nvcc"}`);
} else {
  const peakOf = (precision: "fp32" | "bf16") =>
    Math.max(
      ...Array.from({ length: quick ? 2 : 3 }, () =>
        addon.benchCudaMatmul({ n: 4096, c: 4096, oc: 4096, reps: quick ? 3 : 10, precision }),
      ),
    );
  const bf16Peak = peakOf("bf16"),
    fp32Peak = peakOf("fp32");
  row("cuda device", backends.cudaReason);
  row("cuda matmul peak (4096^3, our kernels)", `fp32 ${fp32Peak.toFixed(1)} TFLOP/s, bf16 ${bf16Peak.toFixed(1)} TFLOP/s`);
  // GPT-2 FLOPs per step: 6 per matmul weight per token, causal attention, the head on scored rows only.
  const stepFlops = (c: PolicyConfig, S: number, P: number, R: number) => {
    const C = c.dModel,
      L = c.layers,
      V = c.vocab ?? 260,
      T = P + R;
    const fwd = S * (2 * L * 12 * C * C * T + L * 4 * C * ((T * (T + 1)) / 2) + 2 * V * C * R);
    return 3 * fwd;
  };
  const timeSteps = async (c: PolicyConfig, S: number, P: number, R: number) => {
    const p = await Policy.create(c);
    if (p.device !== "cuda") throw new Error(`expected the model on cuda, got ${p.device}: ${p.deviceNote}`);
    const prompts = Array.from({ length: S }, (_, s) => Array.from({ length: P }, (_, i) => (s * 31 + i * 7) % (c.vocab ?? 260)));
    const responses = Array.from({ length: S }, (_, s) => Array.from({ length: R }, (_, i) => (s * 17 + i * 13) % (c.vocab ?? 260)));
    await p.trainStep({ prompts, responses }, { loss: "sft", lr: 1e-4 }); // warm-up (allocations)
    const ts: number[] = [];
    for (let i = 0; i < (quick ? 2 : 5); i++) ts.push((await p.trainStep({ prompts, responses }, { loss: "sft", lr: 1e-4 })).seconds);
    const gen = await p.generate(prompts.slice(0, 4), { n: 4, maxTokens: 64, seed: 1 });
    await p.dispose();
    const s = median(ts);
    const tflops = stepFlops(c, S, P, R) / s / 1e12;
    return { s, tokS: (S * (P + R)) / s, tflops, genTokS: gen.tokensPerSecond };
  };
  const shapes: { what: string; c: PolicyConfig; S: number; P: number; R: number }[] = [
    { what: `gpt2 L${L} C${C} fp32`, c: { ...cfg, device: "cuda", precision: "fp32" }, S, P, R },
    { what: `gpt2 L${L} C${C} bf16`, c: { ...cfg, device: "cuda", precision: "bf16" }, S, P, R },
    {
      what: "gpt2-small L12 C768 bf16",
      c: { family: "gpt2", layers: 12, dModel: 768, heads: 12, vocab: 50257, ctx: 1024, seed: 1, device: "cuda", precision: "bf16" },
      S: 8,
      P: 32,
      R: quick ? 224 : 480,
    },
  ];
  for (const sh of shapes) {
    const r = await timeSteps(sh.c, sh.S, sh.P, sh.R);
    row(`cuda train step ${sh.what} ${sh.S}x${sh.P + sh.R} tok`, `${(r.s * 1000).toFixed(1)} ms, ${r.tokS.toFixed(0)} tokens/s`);
    row(
      `cuda train achieved ${sh.what}`,
      `${r.tflops.toFixed(2)} TFLOP/s, MFU ${((100 * r.tflops) / bf16Peak).toFixed(1)}% of measured bf16 peak`,
    );
    row(`cuda generate tokens/s ${sh.what} (16 samples)`, r.genTokS.toFixed(0));
  }
}

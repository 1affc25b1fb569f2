// Loads the node-gyp addon (build/Release/arclight.node) and describes its raw
// surface. Everything here is internal: callers use Policy (policy.ts).
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeConfig {
  family: "gpt2" | "qwen2" | "llama";
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  ctx: number;
  ffn: number;
  normEps: number;
  ropeTheta: number;
  tieEmbeddings: boolean;
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };
  lora?: { rank: number; alpha: number; dropout: number; targets: string[] };
}

export interface NativeBatch {
  tokens: Int32Array;
  promptLens: Int32Array;
  responseLens: Int32Array;
  advantages?: Float64Array;
  oldLogprobs?: Float64Array;
  refLogprobs?: Float64Array;
  mask?: Float64Array;
}

export interface NativeGeneration {
  tokens: Int32Array[];
  logprobs: Float64Array[];
  sampleLogprobs: Float64Array[];
  finishReasons: string[];
  generatedTokens: number;
  seconds: number;
}

export interface NativeTrainStats {
  loss: number;
  pgLoss: number;
  kl: number;
  entropy: number;
  clipFrac: number;
  ratioMean: number;
  gradNorm: number;
  lr: number;
  step: number;
  responseTokens: number;
  totalTokens: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface NativeDeviceOptions {
  device?: "auto" | "cpu" | "cuda";
  precision?: "fp32" | "bf16";
}

export interface NativePolicyHandle {
  /** device: what runs the model; deviceNote: why it is not what was asked for (absent when it is). */
  info(): {
    config: NativeConfig;
    numParams: number;
    trainableParams?: number;
    step: number;
    device: "cpu" | "cuda";
    precision: "fp32" | "bf16";
    deviceNote?: string;
    /** Bytes held on the host (CPU backend only), parked named adapters included. */
    memory?: { weights: number; weightsByDtype: { fp32: number; bf16: number }; gradients: number; optimizer: number };
    /** LoRA policies on the CPU: optimizer steps of every named adapter that exists ("default" always). */
    adapters?: Record<string, number>;
  };
  /** `req.adapter` / `opts.adapter`: the named LoRA adapter the call uses (created fresh on first use); absent = "default". */
  generate(req: Record<string, unknown>): Promise<NativeGeneration>;
  score(batch: NativeBatch, opts?: { adapter?: string }): Promise<{ logprobs: Float64Array; entropy: Float64Array }>;
  trainStep(batch: NativeBatch, opts: Record<string, unknown>): Promise<NativeTrainStats>;
  gradients(
    batch: NativeBatch,
    opts: Record<string, unknown>,
  ): Promise<{ loss: number; gradNorm: number; grads: Record<string, Float32Array> }>;
  save(path: string): Promise<void>;
  saveAdapter(dir: string, opts?: { adapter?: string }): Promise<void>;
  saveHF(dir: string, opts?: { adapter?: string }): Promise<void>;
  loadAdapter(dir: string, opts?: { adapter?: string }): Promise<void>;
  removeAdapter(name: string): void;
  merge(opts?: { adapter?: string }): NativePolicyHandle;
  clone(): NativePolicyHandle;
  cancel(): void;
  dispose(): Promise<void> | undefined;
}

export interface GradCheckResult {
  relErrF32: number;
  relErrF64: number;
  maxAbsErrF64: number;
  gradNorm: number;
  checked: number;
}

export interface NativeAddon {
  NativePolicy: new (config: Partial<NativeConfig>, seed: number, opts?: NativeDeviceOptions) => NativePolicyHandle;
  loadPolicy(path: string, opts?: NativeDeviceOptions): Promise<NativePolicyHandle>;
  loadPretrained(
    dir: string,
    opts?: NativeDeviceOptions & {
      lora?: Record<string, unknown>;
      adapter?: string;
      seed?: number;
      baseWeights?: "fp32" | "bf16";
    },
  ): Promise<NativePolicyHandle>;
  gradcheck(config: Partial<NativeConfig>, batch: NativeBatch, opts: Record<string, unknown>): GradCheckResult;
  groupAdvantages(opts: {
    rewards: Float64Array;
    groups: Int32Array;
    normalizeStd?: boolean;
    epsilon?: number;
    rloo?: boolean;
  }): Float64Array;
  /** fp32 GEMM GFLOP/s; kernel "auto" (what the model uses), "own" (Arclight's kernel) or "blas" (throws without one). */
  benchMatmul(opts: { n: number; c: number; oc: number; reps: number; kernel?: "auto" | "own" | "blas" }): number;
  /**
   * cuda: the model can run on a CUDA device here (device "auto" picks it). blas: fp32 matmuls use a
   * tuned BLAS found at load time (blasLibrary), else blasReason says why not.
   */
  backends(): {
    cpu: boolean;
    cpuIsa: string;
    blas: boolean;
    blasLoaded: boolean;
    blasLibrary: string;
    blasReason: string;
    cuda: boolean;
    cudaCompiled: boolean;
    cudaDevices: number;
    cudaReason: string;
  };
  /** Routes fp32 matmuls through the loaded BLAS (true) or the own kernels (false), process-wide; false when none is loaded. */
  setBlas(on: boolean): boolean;
  /** The dispatched fp32 matmul (BLAS when loaded and the shape is large enough) against the portable reference kernel: max relative error per output. */
  matmulParity(opts: { n: number; c: number; oc: number; seed?: number }): {
    blas: boolean;
    forward: number;
    dinp: number;
    dweight: number;
    dbias: number;
  };
  /** CUDA GEMM throughput in TFLOP/s (throws without a device). */
  benchCudaMatmul(opts: { n: number; c: number; oc: number; reps: number; precision: "fp32" | "bf16" }): number;
}

export class NativeAddonMissingError extends Error {
  override readonly name = "NativeAddonMissingError";
}

let cached: NativeAddon | undefined;

// Source (src/native) and compiled (dist/src/native) layouts sit at different depths.
function candidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, "..", "..", "build", "Release", "arclight.node"), join(here, "..", "..", "..", "build", "Release", "arclight.node")];
}

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const paths = candidates();
  const found = paths.find((p) => existsSync(p));
  if (!found) {
    throw new NativeAddonMissingError(
      `Arclight's native trainer is not built (looked for ${paths.join(", ")}). ` +
        "Build it with `npm run install` (node-gyp rebuild; needs a C++17 compiler and python3).",
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(found) as NativeAddon;
  } catch (err) {
    throw new NativeAddonMissingError(
      `Arclight's native addon at ${found} failed to load: ${(err as Error).message}. Rebuild with \`npm run install\`.`,
    );
  }
  return cached;
}

export function isAddonBuilt(): boolean {
  return candidates().some((p) => existsSync(p));
}

// The policy a notebook trains: a native transformer with generate, logprobs,
// trainStep, save/load. Calls on one policy run one at a time, off the main
// thread; an AbortSignal stops a long call between tokens, layers or sequences.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { totalmem } from "node:os";
import { ValidationError } from "../types/errors.js";
import { loadAddon, type NativeBatch, type NativeConfig, type NativePolicyHandle, type NativeTrainStats } from "./addon.js";
import { consecutiveGroups, groupAdvantages, type AdvantageOptions } from "./advantages.js";
import { checkTokens, flattenBatch, perSequence, splitRows, type SequenceBatch } from "./batch.js";

export type Family = "gpt2" | "qwen2" | "llama";

/** Llama 3's rope_scaling (transformers' rope_type "llama3"). */
export interface RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}
export type Device = "auto" | "cpu" | "cuda";
/** CUDA GEMM operands: fp32, or bf16 on the tensor cores (fp32 master weights and optimizer state either way). */
export type Precision = "fp32" | "bf16";

export type LoraTarget = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";
const LORA_TARGETS: readonly LoraTarget[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/**
 * Low-rank adapters over a frozen base (PEFT semantics: y = W x + (alpha / rank) B A dropout(x),
 * A kaiming-uniform, B zero). qwen2 / llama families; CPU backend.
 */
export interface LoraOptions {
  rank: number;
  /** Default 8 (PEFT's lora_alpha default). */
  alpha?: number;
  /** Dropout on the adapter input while training; default 0. */
  dropout?: number;
  /** PEFT module names; default ["q_proj", "v_proj"] (PEFT's default for Llama and Qwen2). */
  targets?: LoraTarget[];
}

function loraIssues(l: LoraOptions | undefined, issues: string[]): void {
  if (l === undefined) return;
  if (l === null || typeof l !== "object") {
    issues.push("lora must be { rank, alpha?, dropout?, targets? }");
    return;
  }
  if (l.rank === undefined) issues.push("lora.rank is required");
  intIn("lora", "lora.rank", l.rank, 1, 4096, issues);
  numIn("lora.alpha", l.alpha, 1e-9, 1e9, issues);
  numIn("lora.dropout", l.dropout, 0, 0.999, issues);
  if (l.targets !== undefined && (!Array.isArray(l.targets) || l.targets.length === 0 || l.targets.some((t) => !LORA_TARGETS.includes(t))))
    issues.push(`lora.targets must be a non-empty array of ${LORA_TARGETS.join(", ")}`);
}

function nativeLora(l: LoraOptions): { rank: number; alpha: number; dropout: number; targets: string[] } {
  return { rank: l.rank, alpha: l.alpha ?? 8, dropout: l.dropout ?? 0, targets: l.targets ?? ["q_proj", "v_proj"] };
}

/** Options of Policy.fromPretrained. */
export interface PretrainedOptions extends DeviceOptions {
  /** Fresh LoRA adapters over the frozen pretrained weights. */
  lora?: LoraOptions;
  /** A PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to load over the base. */
  adapter?: string;
  /** Seed of the fresh adapters' init. Default 0. */
  seed?: number;
  /**
   * How the frozen base weights are held on the CPU backend. "fp32" (default), or "bf16": half
   * the bytes, exact for a BF16 checkpoint (F32/F16 sources round to nearest even); each GEMM
   * widens the weight to fp32 on the fly, and adapters, activations and AdamW state stay fp32.
   * Only for a frozen base: with `lora`/`adapter`, or an inference-only policy (training every
   * weight needs fp32 masters, so its trainStep is refused). Not on CUDA.
   */
  baseWeights?: "fp32" | "bf16";
}

/** Where a policy runs: "auto" (default) = CUDA when a device exists, else the CPU. */
export interface DeviceOptions {
  device?: Device;
  precision?: Precision;
}

export interface PolicyConfig {
  family: Family;
  layers: number;
  dModel: number;
  heads: number;
  /** Grouped-query attention K/V heads (qwen2, llama); defaults to heads. */
  kvHeads?: number;
  /** Default 260: 256 bytes + 4 specials, the built-in byte-level vocabulary. */
  vocab?: number;
  /** Context length (max prompt + response tokens); default 256. */
  ctx?: number;
  /** MLP hidden size; default 4 * dModel. */
  ffn?: number;
  normEps?: number;
  ropeTheta?: number;
  /** llama only: Llama 3 frequency scaling; absent = plain RoPE. */
  ropeScaling?: RopeScaling;
  /** qwen2 / llama; gpt2 always ties. Default true. */
  tieEmbeddings?: boolean;
  /** Train LoRA adapters over the (frozen, randomly initialised) base instead of every weight. */
  lora?: LoraOptions;
  device?: Device;
  precision?: Precision;
  seed?: number;
}

export type FinishReason = "stop" | "length" | "ctx";

export interface GenerateOptions {
  /** Samples per prompt; they share one prefill. Default 1. */
  n?: number;
  /** 0 = greedy. Default 1. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Token ids that end a sample; the stop token is included in the returned tokens. */
  stop?: number[];
  /** Default 16. */
  maxTokens?: number;
  /** false recomputes the whole sequence per token (a reference path for tests). Default true. */
  useCache?: boolean;
  /** The named LoRA adapter that generates (see `policy.adapter(name)`); default "default". */
  adapter?: string;
  signal?: AbortSignal;
}

/**
 * Samples, prompt-major: entry `p * n + k` is sample k of prompt p
 * (`promptIndex[i]` says which prompt). `logprobs` are under the unmodified
 * policy at temperature 1 (what training's old logprobs need);
 * `sampleLogprobs` are under the distribution actually sampled from
 * (temperature, top-k, top-p applied; 0 for greedy).
 */
export interface Generation {
  tokens: number[][];
  logprobs: number[][];
  sampleLogprobs: number[][];
  finishReasons: FinishReason[];
  promptIndex: number[];
  generatedTokens: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface TrainOptions extends AdvantageOptions {
  loss?: "grpo" | "sft";
  /** Peak learning rate; default 1e-3 (tiny models). */
  lr?: number;
  /** Ratio clip: [1 - clipLow, 1 + clipHigh]; default 0.2 / 0.2 (clipHigh 0.28 for DAPO's clip-higher). */
  clipLow?: number;
  clipHigh?: number;
  /** k3 KL weight; needs refLogprobs in the batch or `reference`. Default 0. */
  klBeta?: number;
  /** Frozen reference policy (e.g. `policy.clone()` before training, or one of its adapters) for the KL term. */
  reference?: Policy | PolicyAdapter;
  entropyCoef?: number;
  aggregation?: "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
  /** Divisor for seq-mean-token-sum-norm; default the longest response in the batch. */
  normLength?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  weightDecay?: number;
  /** Global-norm clip; 0 disables. Default 1. */
  maxGradNorm?: number;
  warmupSteps?: number;
  /** Cosine decay to minLrRatio * lr by this step; 0 = constant. */
  totalSteps?: number;
  minLrRatio?: number;
  /** The named LoRA adapter that trains (its own AdamW state and step count); default "default". */
  adapter?: string;
  signal?: AbortSignal;
}

export interface TrainStats extends NativeTrainStats {
  /** Advantages actually used, one per sequence (GRPO). */
  advantages?: number[];
}

export interface LogprobResult {
  logprobs: number[][];
  entropy: number[][];
}

const FAMILIES = new Set(["gpt2", "qwen2", "llama"]);

/** Adapter names: what a proxy's model name or an agent's name usually is, and safe as a tensor-name part. */
const ADAPTER_NAME = /^[A-Za-z0-9_.:/-]{1,64}$/;
const DEFAULT_ADAPTER = "default";

function adapterIssues(v: unknown, issues: string[]): void {
  if (v !== undefined && (typeof v !== "string" || !ADAPTER_NAME.test(v)))
    issues.push(`adapter must be 1-64 characters of letters, digits, _ . : / -, got ${JSON.stringify(v)}`);
}

function checkAdapter(where: string, v: unknown): void {
  const issues: string[] = [];
  adapterIssues(v, issues);
  if (issues.length) throw new ValidationError(where, issues);
}

function intIn(_where: string, name: string, v: unknown, lo: number, hi: number, issues: string[]): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi)
    issues.push(`${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
}

function numIn(name: string, v: unknown, lo: number, hi: number, issues: string[]): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi)
    issues.push(`${name} must be a number in [${lo}, ${hi}], got ${String(v)}`);
}

function checkConfig(c: PolicyConfig): void {
  const where = "Policy.create";
  if (c === null || typeof c !== "object") throw new ValidationError(where, ["config must be { family, layers, dModel, heads, ... }"]);
  const issues: string[] = [];
  if (!FAMILIES.has(c.family as string)) issues.push(`family must be "gpt2", "qwen2" or "llama", got ${JSON.stringify(c.family)}`);
  for (const k of ["layers", "dModel", "heads"] as const) if (c[k] === undefined) issues.push(`${k} is required`);
  intIn(where, "layers", c.layers, 1, 256, issues);
  intIn(where, "dModel", c.dModel, 2, 16384, issues);
  intIn(where, "heads", c.heads, 1, 16384, issues);
  intIn(where, "kvHeads", c.kvHeads, 1, 16384, issues);
  intIn(where, "vocab", c.vocab, 2, 1 << 22, issues);
  intIn(where, "ctx", c.ctx, 2, 1 << 20, issues);
  intIn(where, "ffn", c.ffn, 0, 1 << 20, issues);
  intIn(where, "seed", c.seed, 0, Number.MAX_SAFE_INTEGER, issues);
  numIn("normEps", c.normEps, 1e-12, 0.5, issues);
  numIn("ropeTheta", c.ropeTheta, 1.0001, 1e12, issues);
  deviceIssues(c, issues);
  loraIssues(c.lora, issues);
  if (c.lora !== undefined && c.family === "gpt2") issues.push("lora needs the qwen2 or llama family");
  if (!issues.length) {
    if (c.dModel % c.heads !== 0) issues.push(`heads (${c.heads}) must divide dModel (${c.dModel})`);
    const kv = c.kvHeads ?? c.heads;
    if (c.heads % kv !== 0) issues.push(`kvHeads (${kv}) must divide heads (${c.heads})`);
    if (c.family === "gpt2" && kv !== c.heads) issues.push("gpt2 has no grouped-query attention: kvHeads must equal heads");
    if (c.family === "gpt2" && c.tieEmbeddings === false) issues.push("gpt2 always ties its head to wte");
    if (c.family !== "gpt2" && (c.dModel / c.heads) % 2 !== 0)
      issues.push(`${c.family} needs an even head dimension (dModel / heads) for RoPE`);
    if (c.ropeScaling !== undefined) {
      const r = c.ropeScaling;
      if (c.family !== "llama") issues.push("ropeScaling is a llama setting");
      else if (r === null || typeof r !== "object")
        issues.push("ropeScaling must be { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings }");
      else {
        numIn("ropeScaling.factor", r.factor, 1, 1e6, issues);
        numIn("ropeScaling.lowFreqFactor", r.lowFreqFactor, 1e-9, 1e6, issues);
        numIn("ropeScaling.highFreqFactor", r.highFreqFactor, 1e-9, 1e6, issues);
        intIn(where, "ropeScaling.originalMaxPositionEmbeddings", r.originalMaxPositionEmbeddings, 1, 1 << 24, issues);
        if (!(r.highFreqFactor > r.lowFreqFactor)) issues.push("ropeScaling.highFreqFactor must exceed lowFreqFactor");
        for (const k of ["factor", "lowFreqFactor", "highFreqFactor", "originalMaxPositionEmbeddings"] as const)
          if (r[k] === undefined) issues.push(`ropeScaling.${k} is required`);
      }
    }
  }
  if (!issues.length) {
    // weights, gradients and two AdamW moments in fp32: refuse what cannot fit rather than be OOM-killed
    const bytes = estimateParams(c) * 16;
    if (bytes > totalmem())
      issues.push(
        `this config needs about ${(bytes / 2 ** 30).toFixed(1)} GiB for training state; the machine has ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      );
  }
  if (issues.length) throw new ValidationError(where, issues);
}

/** Parameter count of a config (same layout as native/src/param_names.h). */
export function estimateParams(c: PolicyConfig): number {
  const C = c.dModel,
    V = c.vocab ?? 260,
    T = c.ctx ?? 256,
    H = c.heads,
    KV = c.kvHeads ?? c.heads,
    D = C / H;
  const F = c.ffn && c.ffn > 0 ? c.ffn : 4 * C;
  const qkv = (H + 2 * KV) * D;
  if (c.family === "gpt2")
    return V * C + T * C + c.layers * (2 * C + qkv * C + qkv + C * H * D + C + 2 * C + F * C + F + C * F + C) + 2 * C;
  const untied = c.tieEmbeddings === false ? V * C : 0;
  const qkvBias = c.family === "qwen2" ? qkv : 0;
  return V * C + c.layers * (C + qkv * C + qkvBias + C * H * D + C + 2 * F * C + C * F) + C + untied;
}

function deviceIssues(o: DeviceOptions, issues: string[]): void {
  if (o.device !== undefined && !["auto", "cpu", "cuda"].includes(o.device))
    issues.push(`device must be "auto", "cpu" or "cuda", got ${JSON.stringify(o.device)}`);
  if (o.precision !== undefined && !["fp32", "bf16"].includes(o.precision))
    issues.push(`precision must be "fp32" or "bf16", got ${JSON.stringify(o.precision)}`);
}

function checkDeviceOptions(where: string, o: DeviceOptions): void {
  if (o === null || typeof o !== "object") throw new ValidationError(where, ["options must be { device?, precision? }"]);
  const issues: string[] = [];
  deviceIssues(o, issues);
  if (issues.length) throw new ValidationError(where, issues);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") for (const v of Object.values(Object.freeze(o))) deepFreeze(v);
  return o;
}

function abortError(): Error {
  const e = new Error("The operation was aborted");
  e.name = "AbortError";
  return e;
}

// The native side picks the backend; a request it could not meet (device "cuda" without a
// device, bf16 on the CPU) comes back as a note, printed once per distinct note.
const warned = new Set<string>();
function noteDevice(handle: NativePolicyHandle): void {
  const note = handle.info().deviceNote;
  if (note && !warned.has(note)) {
    warned.add(note);
    console.warn(`arclight: ${note}.`);
  }
}

interface PreparedStep {
  nb: NativeBatch;
  native: Record<string, unknown>;
  advantages: number[] | undefined;
}

export class Policy {
  /** What runs the model: "cuda" only when a device took it. */
  readonly device: "cpu" | "cuda";
  /** GEMM precision actually used ("bf16" only on CUDA). */
  readonly precision: Precision;
  /** Why `device`/`precision` differ from what was asked for; undefined when they do not. */
  readonly deviceNote: string | undefined;
  #handle: NativePolicyHandle | undefined;
  // Fixed for the handle's life. Read once: info() takes the policy's lock, so every read of it
  // on the JS thread waited for the generate running on the pool (issue 14).
  readonly #config: NativeConfig;
  #queue: Promise<unknown> = Promise.resolve();
  // The Hugging Face directory this policy came from: saveHF copies its tokenizer files.
  #sourceDir: string | undefined;

  private constructor(handle: NativePolicyHandle) {
    this.#handle = handle;
    const info = handle.info();
    this.#config = deepFreeze(info.config);
    this.device = info.device;
    this.precision = info.precision;
    this.deviceNote = info.deviceNote;
    noteDevice(handle);
  }

  /** A freshly initialised policy (GPT-2 init, seeded). */
  static async create(config: PolicyConfig): Promise<Policy> {
    checkConfig(config);
    const addon = loadAddon();
    const cfg: Partial<NativeConfig> = {
      family: config.family,
      layers: config.layers,
      dModel: config.dModel,
      heads: config.heads,
      kvHeads: config.kvHeads ?? config.heads,
      vocab: config.vocab ?? 260,
      ctx: config.ctx ?? 256,
      ffn: config.ffn ?? 0,
      normEps: config.normEps ?? (config.family === "gpt2" ? 1e-5 : 1e-6),
      ropeTheta: config.ropeTheta ?? 10000,
      tieEmbeddings: config.tieEmbeddings ?? true,
      ...(config.ropeScaling ? { ropeScaling: config.ropeScaling } : {}),
      ...(config.lora ? { lora: nativeLora(config.lora) } : {}),
    };
    return new Policy(
      new addon.NativePolicy(cfg, config.seed ?? 0, { device: config.device ?? "auto", precision: config.precision ?? "fp32" }),
    );
  }

  /**
   * Loads a checkpoint written by `save` (safetensors, config in __metadata__). Its AdamW moments
   * and step count come back too, so training resumes where it stopped; a checkpoint without
   * them (older files) starts a fresh optimizer at its saved step.
   */
  static async load(path: string, opts: DeviceOptions = {}): Promise<Policy> {
    if (typeof path !== "string" || path.length === 0) throw new ValidationError("Policy.load", ["path must be a non-empty string"]);
    checkDeviceOptions("Policy.load", opts);
    const addon = loadAddon();
    return new Policy(await addon.loadPolicy(path, { device: opts.device ?? "auto", precision: opts.precision ?? "fp32" }));
  }

  /**
   * Loads a local Hugging Face GPT-2, Qwen2 / Qwen2.5 or Llama-family (Llama 3.x, SmolLM2,
   * TinyLlama) directory: config.json plus model.safetensors or its index + shards;
   * F32/F16/BF16 weights become fp32. Unknown architectures and config keys that would change
   * the math (attention_bias, rope_scaling types other than llama3, sliding windows, ...) are
   * refused with an error naming them. Nothing is downloaded.
   */
  static async fromPretrained(dir: string, opts: PretrainedOptions = {}): Promise<Policy> {
    const where = "Policy.fromPretrained";
    if (typeof dir !== "string" || dir.length === 0) throw new ValidationError(where, ["dir must be a non-empty string"]);
    checkDeviceOptions(where, opts);
    const issues: string[] = [];
    loraIssues(opts.lora, issues);
    if (opts.adapter !== undefined && (typeof opts.adapter !== "string" || opts.adapter.length === 0))
      issues.push("adapter must be a directory path");
    intIn(where, "seed", opts.seed, 0, Number.MAX_SAFE_INTEGER, issues);
    if (opts.baseWeights !== undefined && opts.baseWeights !== "fp32" && opts.baseWeights !== "bf16")
      issues.push(`baseWeights must be "fp32" or "bf16", got ${JSON.stringify(opts.baseWeights)}`);
    else if (opts.baseWeights === "bf16" && opts.device === "cuda")
      issues.push('baseWeights "bf16" runs on the CPU backend only; use device "cpu" or "auto" (or baseWeights "fp32")');
    if (issues.length) throw new ValidationError(where, issues);
    const addon = loadAddon();
    const policy = new Policy(
      await addon.loadPretrained(dir, {
        device: opts.device ?? "auto",
        precision: opts.precision ?? "fp32",
        ...(opts.lora ? { lora: nativeLora(opts.lora) } : {}),
        ...(opts.adapter ? { adapter: opts.adapter } : {}),
        seed: opts.seed ?? 0,
        baseWeights: opts.baseWeights ?? "fp32",
      }),
    );
    policy.#sourceDir = dir;
    return policy;
  }

  get config(): NativeConfig {
    this.#live();
    return this.#config;
  }
  get numParams(): number {
    return this.#live().info().numParams;
  }
  /**
   * Bytes this policy holds on the host: weights (`weightsByDtype`: fp32, and bf16 for a base
   * loaded with baseWeights "bf16"), gradient buffers (allocated by the first step, trained
   * parameters only) and AdamW moments (two per trained parameter). CPU backend; undefined on
   * CUDA, whose buffers live on the device.
   */
  memory():
    | {
        weights: number;
        weightsByDtype: { fp32: number; bf16: number };
        gradients: number;
        optimizer: number;
        total: number;
      }
    | undefined {
    const m = this.#live().info().memory;
    return m ? { ...m, total: m.weights + m.gradients + m.optimizer } : undefined;
  }

  /** Parameters a train step updates: all of them, or only the LoRA adapters. */
  get trainableParams(): number {
    const i = this.#live().info();
    return i.trainableParams ?? i.numParams;
  }
  /** Optimizer steps taken (restored by load); with LoRA, those of the default adapter. */
  get step(): number {
    const a = this.#live().info().adapters;
    if (a) return a[DEFAULT_ADAPTER] ?? 0;
    return this.#live().info().step;
  }

  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<Generation> {
    const where = "policy.generate";
    const cfg = this.config;
    checkTokens(where, "prompts", prompts, cfg.vocab, 1);
    const issues: string[] = [];
    intIn(where, "n", opts.n, 1, 65536, issues);
    intIn(where, "maxTokens", opts.maxTokens, 0, 1 << 20, issues);
    intIn(where, "topK", opts.topK, 0, 2 ** 31 - 1, issues);
    intIn(where, "seed", opts.seed, 0, Number.MAX_SAFE_INTEGER, issues);
    numIn("temperature", opts.temperature, 0, 1e6, issues);
    numIn("topP", opts.topP, 1e-9, 1, issues);
    adapterIssues(opts.adapter, issues);
    if (opts.stop !== undefined && (!Array.isArray(opts.stop) || opts.stop.some((t) => !Number.isInteger(t) || t < 0 || t >= cfg.vocab)))
      issues.push(`stop must be token ids in [0, ${cfg.vocab})`);
    prompts.forEach((p, i) => {
      if (p.length >= cfg.ctx) issues.push(`prompts[${i}] has ${p.length} tokens; it must be shorter than ctx (${cfg.ctx})`);
    });
    if (issues.length) throw new ValidationError(where, issues);
    const lens = Int32Array.from(prompts.map((p) => p.length));
    const flat = new Int32Array(lens.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of prompts) {
      flat.set(p, at);
      at += p.length;
    }
    const n = opts.n ?? 1;
    const raw = await this.#run(opts.signal, (h) =>
      h.generate({
        tokens: flat,
        promptLens: lens,
        n,
        temperature: opts.temperature ?? 1,
        topK: opts.topK ?? 0,
        topP: opts.topP ?? 1,
        seed: opts.seed ?? 0,
        stop: Int32Array.from(opts.stop ?? []),
        maxTokens: opts.maxTokens ?? 16,
        useCache: opts.useCache ?? true,
        adapter: opts.adapter ?? DEFAULT_ADAPTER,
      }),
    );
    return {
      tokens: raw.tokens.map((t) => Array.from(t)),
      logprobs: raw.logprobs.map((t) => Array.from(t)),
      sampleLogprobs: raw.sampleLogprobs.map((t) => Array.from(t)),
      finishReasons: raw.finishReasons as FinishReason[],
      promptIndex: raw.tokens.map((_, i) => Math.floor(i / n)),
      generatedTokens: raw.generatedTokens,
      seconds: raw.seconds,
      tokensPerSecond: raw.seconds > 0 ? raw.generatedTokens / raw.seconds : 0,
    };
  }

  /** Per-response-token logprobs and entropies (teacher forcing), shaped like `batch.responses`. */
  async logprobs(
    batch: Pick<SequenceBatch, "prompts" | "responses">,
    opts: { signal?: AbortSignal; adapter?: string } = {},
  ): Promise<LogprobResult> {
    const cfg = this.config;
    checkAdapter("policy.logprobs", opts.adapter);
    const nb = flattenBatch(
      "policy.logprobs",
      { prompts: batch?.prompts, responses: batch?.responses } as SequenceBatch,
      cfg.vocab,
      cfg.ctx,
    );
    const raw = await this.#run(opts.signal, (h) => h.score(nb, { adapter: opts.adapter ?? DEFAULT_ADAPTER }));
    return { logprobs: splitRows(raw.logprobs, batch.responses), entropy: splitRows(raw.entropy, batch.responses) };
  }

  /**
   * One optimizer step (AdamW) on the batch with the SFT or GRPO loss. On the CPU backend this is
   * gradient accumulation over micro-batches of one sequence: sequences run forward and backward
   * one at a time, adding into one gradient buffer, so a batch of any size holds one sequence's
   * activations. The step's gradient is the sum of the sequences' own `gradients()`, each
   * weighted by its share of the loss aggregation (token-mean: its masked tokens over the
   * batch's), then clipping and AdamW once; there is no separate micro-batch option.
   */
  async trainStep(batch: SequenceBatch, opts: TrainOptions = {}): Promise<TrainStats> {
    // Synchronous unless a reference policy must be scored first, so calls queue in call order.
    const prep = this.#prepareStep("policy.trainStep", batch, opts);
    const { nb, native, advantages } = prep instanceof Promise ? await prep : prep;
    const stats = await this.#run(opts.signal, (h) => h.trainStep(nb, native));
    return advantages ? { ...stats, advantages } : stats;
  }

  /**
   * The loss of `trainStep` and its gradient per trained parameter (Arclight names and layouts,
   * native/src/param_names.h), without updating anything. CPU backend only; for reference tests
   * against other implementations and for debugging.
   */
  async gradients(
    batch: SequenceBatch,
    opts: TrainOptions = {},
  ): Promise<{ loss: number; gradNorm: number; grads: Map<string, Float32Array> }> {
    const prep = this.#prepareStep("policy.gradients", batch, opts);
    const { nb, native } = prep instanceof Promise ? await prep : prep;
    const raw = await this.#run(opts.signal, (h) => h.gradients(nb, native));
    return { loss: raw.loss, gradNorm: raw.gradNorm, grads: new Map(Object.entries(raw.grads)) };
  }

  #prepareStep(where: string, batch: SequenceBatch, opts: TrainOptions): PreparedStep | Promise<PreparedStep> {
    const cfg = this.config;
    const nb = flattenBatch(where, batch, cfg.vocab, cfg.ctx);
    const S = batch.prompts.length;
    const loss = opts.loss ?? "grpo";
    const issues: string[] = [];
    if (loss !== "grpo" && loss !== "sft") issues.push('loss must be "grpo" or "sft"');
    const aggs = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"];
    if (opts.aggregation !== undefined && !aggs.includes(opts.aggregation)) issues.push(`aggregation must be one of ${aggs.join(", ")}`);
    numIn("lr", opts.lr, 0, 10, issues);
    numIn("clipLow", opts.clipLow, 0, 1, issues);
    numIn("clipHigh", opts.clipHigh, 0, 1e6, issues);
    numIn("klBeta", opts.klBeta, 0, 1e6, issues);
    numIn("entropyCoef", opts.entropyCoef, -1e6, 1e6, issues);
    numIn("beta1", opts.beta1, 0, 0.999999, issues);
    numIn("beta2", opts.beta2, 0, 0.999999999, issues);
    numIn("adamEps", opts.adamEps, 0, 1, issues);
    numIn("weightDecay", opts.weightDecay, 0, 10, issues);
    numIn("maxGradNorm", opts.maxGradNorm, 0, 1e12, issues);
    numIn("minLrRatio", opts.minLrRatio, 0, 1, issues);
    numIn("normLength", opts.normLength, 0, 1e9, issues);
    intIn(where, "warmupSteps", opts.warmupSteps, 0, 2 ** 31 - 1, issues);
    intIn(where, "totalSteps", opts.totalSteps, 0, 2 ** 31 - 1, issues);
    if (opts.reference !== undefined && !(opts.reference instanceof Policy) && !(opts.reference instanceof PolicyAdapter))
      issues.push("reference must be a Policy or a PolicyAdapter");
    adapterIssues(opts.adapter, issues);
    if (issues.length) throw new ValidationError(where, issues);

    let advantages: number[] | undefined = perSequence(where, "advantages", batch.advantages, S);
    if (!advantages && batch.rewards !== undefined) {
      const rewards = perSequence(where, "rewards", batch.rewards, S)!;
      let groups = batch.groups;
      if (groups !== undefined) {
        if (!Array.isArray(groups) || groups.length !== S || groups.some((g) => !Number.isInteger(g)))
          throw new ValidationError(where, [`groups must be integer[${S}] (one group id per sequence)`]);
      } else if (batch.groupSize !== undefined) {
        groups = consecutiveGroups(S, batch.groupSize);
      } else {
        throw new ValidationError(where, ["rewards need groups (integer[S]) or groupSize"]);
      }
      advantages = groupAdvantages(rewards, groups, opts);
    }
    if (loss === "grpo" && !advantages)
      throw new ValidationError(where, ["grpo needs advantages: number[S], or rewards with groups/groupSize"]);
    if (advantages) nb.advantages = Float64Array.from(advantages);
    const needRef = (opts.klBeta ?? 0) > 0 && !nb.refLogprobs;
    if (needRef && !opts.reference) throw new ValidationError(where, ["klBeta > 0 needs batch.refLogprobs or options.reference"]);
    const native: Record<string, unknown> = {
      loss,
      lr: opts.lr ?? 1e-3,
      clipLow: opts.clipLow ?? 0.2,
      clipHigh: opts.clipHigh ?? 0.2,
      klBeta: opts.klBeta ?? 0,
      entropyCoef: opts.entropyCoef ?? 0,
      aggregation: opts.aggregation ?? "token-mean",
      normLength: opts.normLength ?? 0,
      beta1: opts.beta1 ?? 0.9,
      beta2: opts.beta2 ?? 0.999,
      adamEps: opts.adamEps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      maxGradNorm: opts.maxGradNorm ?? 1,
      warmupSteps: opts.warmupSteps ?? 0,
      totalSteps: opts.totalSteps ?? 0,
      minLrRatio: opts.minLrRatio ?? 0,
      adapter: opts.adapter ?? DEFAULT_ADAPTER,
    };
    if (!needRef) return { nb, native, advantages };
    return opts.reference!.logprobs(batch, { signal: opts.signal }).then((ref) => {
      nb.refLogprobs = Float64Array.from(ref.logprobs.flat());
      return { nb, native, advantages };
    });
  }

  /** Weights, config, step and (after the first step) the AdamW moments, as one safetensors file. */
  async save(path: string): Promise<void> {
    if (typeof path !== "string" || path.length === 0) throw new ValidationError("policy.save", ["path must be a non-empty string"]);
    await this.#run(undefined, (h) => h.save(path));
  }

  /** Writes a LoRA adapter (default "default") as a PEFT directory (adapter_model.safetensors + adapter_config.json). */
  async saveAdapter(dir: string, opts: { adapter?: string } = {}): Promise<void> {
    if (typeof dir !== "string" || dir.length === 0) throw new ValidationError("policy.saveAdapter", ["dir must be a non-empty string"]);
    checkAdapter("policy.saveAdapter", opts.adapter);
    await mkdir(dir, { recursive: true });
    await this.#run(undefined, (h) => h.saveAdapter(dir, { adapter: opts.adapter ?? DEFAULT_ADAPTER }));
  }

  /** Replaces a LoRA adapter's weights with a PEFT directory's (same rank, alpha and targets); its optimizer restarts. */
  async loadAdapter(dir: string, opts: { adapter?: string } = {}): Promise<void> {
    if (typeof dir !== "string" || dir.length === 0) throw new ValidationError("policy.loadAdapter", ["dir must be a non-empty string"]);
    checkAdapter("policy.loadAdapter", opts.adapter);
    await this.#run(undefined, (h) => h.loadAdapter(dir, { adapter: opts.adapter ?? DEFAULT_ADAPTER }));
  }

  /** A new policy (CPU) with one adapter (default "default") folded into the base weights (W += alpha/rank B A) and no adapters. */
  async mergeAdapter(opts: { adapter?: string } = {}): Promise<Policy> {
    checkAdapter("policy.mergeAdapter", opts.adapter);
    const merged = await this.#run(undefined, async (h) => new Policy(h.merge({ adapter: opts.adapter ?? DEFAULT_ADAPTER })));
    merged.#sourceDir = this.#sourceDir;
    return merged;
  }

  /**
   * A named LoRA adapter over this policy's frozen base, one per agent: its own weights (PEFT init seeded
   * by the name, so a fresh one leaves the base's outputs unchanged), AdamW state and step count. Every
   * call through the view uses that adapter; calls on the policy itself use "default". Created on first
   * use; `save` keeps them all, `saveAdapter`/`loadAdapter` move one in PEFT's format. Serve several
   * over one proxy with PolicyBackend's `policies` option (model name -> adapter).
   */
  adapter(name: string): PolicyAdapter {
    checkAdapter("policy.adapter", name);
    if (typeof name !== "string") throw new ValidationError("policy.adapter", ["name is required"]);
    if (!this.config.lora)
      throw new ValidationError("policy.adapter", [
        "named adapters need LoRA: lora in Policy.create's config or in fromPretrained's options",
      ]);
    if (this.device !== "cpu")
      throw new ValidationError("policy.adapter", [`named adapters run on the CPU backend only; this policy runs on ${this.device}`]);
    return new PolicyAdapter(this, name);
  }

  /** Named adapters that exist (those used at least once, and "default"), with the optimizer steps each has taken. */
  adapters(): Record<string, number> {
    return { ...(this.#live().info().adapters ?? {}) };
  }

  /** Drops a named adapter (not "default") with its optimizer state; waits for the calls queued before it. */
  async removeAdapter(name: string): Promise<void> {
    checkAdapter("policy.removeAdapter", name);
    if (name === DEFAULT_ADAPTER) throw new ValidationError("policy.removeAdapter", ["the default adapter cannot be removed"]);
    await this.#run(undefined, async (h) => h.removeAdapter(name));
  }

  /**
   * Writes a Hugging Face directory in the family's own names and layouts (config.json,
   * model.safetensors in F32, generation_config.json) that Policy.fromPretrained, transformers
   * and vLLM load; the LoRA adapter (`opts.adapter`, default "default") is merged in. Tokenizer files (tokenizer.json,
   * tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt) come from
   * `tokenizerDir`, else from the directory the policy was loaded from, when present.
   */
  async saveHF(dir: string, opts: { tokenizerDir?: string; adapter?: string } = {}): Promise<void> {
    if (typeof dir !== "string" || dir.length === 0) throw new ValidationError("policy.saveHF", ["dir must be a non-empty string"]);
    checkAdapter("policy.saveHF", opts.adapter);
    await mkdir(dir, { recursive: true });
    await this.#run(undefined, (h) => h.saveHF(dir, { adapter: opts.adapter ?? DEFAULT_ADAPTER }));
    const from = opts.tokenizerDir ?? this.#sourceDir;
    for (const f of [
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
      "vocab.json",
      "merges.txt",
      "generation_config.json",
    ])
      if (from && existsSync(join(from, f))) await copyFile(join(from, f), join(dir, f));
    if (!existsSync(join(dir, "generation_config.json")))
      await writeFile(join(dir, "generation_config.json"), `${JSON.stringify({ _from_model_config: true }, null, 2)}\n`);
  }

  /** An independent copy on the same device (e.g. a frozen KL reference): weights, optimizer state and step. */
  clone(): Policy {
    return new Policy(this.#live().clone());
  }

  /** Frees the native weights; later calls throw. */
  async dispose(): Promise<void> {
    const h = this.#handle;
    if (!h) return;
    this.#handle = undefined;
    await this.#queue.catch(() => undefined);
    await h.dispose();
  }

  #live(): NativePolicyHandle {
    if (!this.#handle) throw new Error("policy was disposed");
    return this.#handle;
  }

  // Calls on one policy are queued so they never interleave on its weights.
  #run<T>(signal: AbortSignal | undefined, call: (h: NativePolicyHandle) => Promise<T>): Promise<T> {
    const h = this.#live();
    const next = this.#queue.then(async () => {
      if (signal?.aborted) throw abortError();
      const onAbort = () => h.cancel();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        return await call(h);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith("ARCLIGHT_CANCELLED")) throw abortError();
        throw err;
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

/**
 * One named LoRA adapter of a policy (`policy.adapter("planner")`): the policy's calls with that
 * adapter. It holds no weights of its own, so it stays valid until the policy is disposed or the
 * adapter removed; calls on it queue with the policy's other calls.
 */
export class PolicyAdapter {
  constructor(
    readonly policy: Policy,
    readonly name: string,
  ) {}

  get config(): NativeConfig {
    return this.policy.config;
  }
  get trainableParams(): number {
    return this.policy.trainableParams;
  }
  /** Optimizer steps this adapter has taken (0 before its first use). */
  get step(): number {
    return this.policy.adapters()[this.name] ?? 0;
  }
  generate(prompts: number[][], opts: Omit<GenerateOptions, "adapter"> = {}): Promise<Generation> {
    return this.policy.generate(prompts, { ...opts, adapter: this.name });
  }
  logprobs(batch: Pick<SequenceBatch, "prompts" | "responses">, opts: { signal?: AbortSignal } = {}): Promise<LogprobResult> {
    return this.policy.logprobs(batch, { ...opts, adapter: this.name });
  }
  trainStep(batch: SequenceBatch, opts: Omit<TrainOptions, "adapter"> = {}): Promise<TrainStats> {
    return this.policy.trainStep(batch, { ...opts, adapter: this.name });
  }
  gradients(
    batch: SequenceBatch,
    opts: Omit<TrainOptions, "adapter"> = {},
  ): Promise<{ loss: number; gradNorm: number; grads: Map<string, Float32Array> }> {
    return this.policy.gradients(batch, { ...opts, adapter: this.name });
  }
  saveAdapter(dir: string): Promise<void> {
    return this.policy.saveAdapter(dir, { adapter: this.name });
  }
  loadAdapter(dir: string): Promise<void> {
    return this.policy.loadAdapter(dir, { adapter: this.name });
  }
  mergeAdapter(): Promise<Policy> {
    return this.policy.mergeAdapter({ adapter: this.name });
  }
  saveHF(dir: string, opts: { tokenizerDir?: string } = {}): Promise<void> {
    return this.policy.saveHF(dir, { ...opts, adapter: this.name });
  }
}

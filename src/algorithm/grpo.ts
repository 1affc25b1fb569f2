// GRPO (group relative policy optimization) over agents: every task runs
// groupSize times on the current policy through the LLM proxy, the adapter
// turns the traces into (prompt ids, response ids, logprobs, reward), and
// the native trainer takes clipped policy-gradient steps on group-relative
// advantages. Checkpoints resume a stopped fit. A multi-agent system can
// train one LoRA adapter per agent over one base (selective optimization):
// the proxy serves each adapter under its own model name, and each adapter
// steps only on the calls made under that name.
import { z } from "zod";
import { parseOrThrow } from "../types/index.js";
import type { AdapterOptions } from "../adapter/index.js";
import type { TokenizerLike } from "../llm/index.js";
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import type { Policy, PolicyAdapter, TrainStats } from "../native/policy.js";
import { progress } from "../display/progress.js";
import { recordSeed } from "../display/run-info.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";
import {
  collectSamples,
  collectSamplesByModel,
  evaluate,
  latestCheckpoint,
  mean,
  runGroups,
  saveCheckpoint,
  shuffled,
  withServedPolicy,
  std,
  type Sample,
} from "./policy-loop.js";

const GrpoOptionsSchema = z
  .object({
    policy: z.custom<Policy>(
      (p) => !!p && typeof (p as Policy).trainStep === "function" && typeof (p as Policy).generate === "function",
      "a native Policy (agl.native.Policy.create)",
    ),
    tokenizer: z.custom<TokenizerLike>(
      (t) => !!t && typeof (t as TokenizerLike).encode === "function" && typeof (t as TokenizerLike).applyChatTemplate === "function",
      "a tokenizer",
    ),
    /** Model name the agents ask the proxy for (published as the `llm` resource); serves `policy` itself. */
    model: z.string().min(1).default("arclight-policy"),
    /**
     * Multi-agent: more model names the proxy serves at the same endpoint, each a LoRA adapter of `policy`
     * (`{ planner: policy.adapter("planner"), solver: policy.adapter("solver") }`). An agent asks for its
     * own name (`model: "planner"` on `ctx.llm.endpoint`), so its calls are generated and recorded under it.
     */
    policies: z
      .record(
        z.string().min(1),
        z.custom<PolicyAdapter>(
          (a) => !!a && typeof (a as PolicyAdapter).trainStep === "function" && typeof (a as PolicyAdapter).name === "string",
          "a LoRA adapter of policy (policy.adapter(name))",
        ),
      )
      .optional(),
    /**
     * Selective optimization: the served model names that train, each adapter from the calls made under its
     * own name only (its own advantages, optimizer state and step count); the others serve frozen. Default:
     * every name in `policies` when given, else `model`. `adapter.agentMatch` narrows the calls further.
     */
    train: z.array(z.string().min(1)).min(1).optional(),
    /** How the proxy renders conversations (tools included) for the policy; default the tokenizer's own template. */
    chatTemplate: z
      .custom<ChatTemplate>((t) => t === undefined || (!!t && typeof (t as ChatTemplate).render === "function"), "a ChatTemplate")
      .optional(),
    groupSize: z.number().int().min(2).max(256).default(8),
    /** Tasks per training step (each run groupSize times). */
    batchSize: z.number().int().min(1).max(4096).default(8),
    /** Training steps; default: enough for `epochs` passes over the train set. */
    steps: z.number().int().min(0).optional(),
    epochs: z.number().int().min(1).default(1),
    /** Optimizer steps on each batch of rollouts (PPO-style reuse; ratios stay 1 on the first). */
    updatesPerBatch: z.number().int().min(1).max(64).default(1),
    lr: z.number().positive().max(10).default(1e-3),
    clip: z.union([z.number().min(0).max(1), z.object({ low: z.number().min(0).max(1), high: z.number().min(0).max(1e6) })]).default(0.2),
    klBeta: z.number().min(0).default(0),
    entropyCoef: z.number().default(0),
    aggregation: z.enum(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]).default("token-mean"),
    /** Divide advantages by the group's std (GRPO); false is Dr. GRPO's choice. */
    normalizeStd: z.boolean().default(true),
    advantage: z.enum(["grpo", "rloo"]).default("grpo"),
    maxGradNorm: z.number().min(0).default(1),
    /** AdamW's second-moment decay; 0.99 adapts faster on the tiny, few-hundred-step runs of CPU demos. */
    beta2: z.number().min(0).max(0.999999999).default(0.999),
    warmupSteps: z.number().int().min(0).default(0),
    temperature: z.number().min(0).max(2).default(1),
    evalTemperature: z.number().min(0).max(2).default(0),
    maxTokens: z.number().int().min(1).default(16),
    /** Evaluate on val every k steps (0: only before and after). */
    evalEvery: z.number().int().min(0).default(0),
    /**
     * Which calls train and the credit each gets (agentMatch, llmCallMatch, rewardAssignment, gamma);
     * rewardAssignment defaults to "final" here.
     */
    adapter: z.custom<AdapterOptions>((a) => a === undefined || (typeof a === "object" && a !== null)).default({}),
    /** One sample per LLM call ("call") or one masked sequence per episode ("episode"; see collectSamples). */
    shape: z.enum(["call", "episode"]).default("call"),
    /**
     * Baseline of the group-relative advantage (src/algorithm/turn-advantages.ts): "episode" compares each
     * call's credit with the group's episodes (GRPO on rollout rewards under "final" credit); "position"
     * compares call k with call k of the group's other rollouts.
     */
    baseline: z.enum(["episode", "position"]).default("episode"),
    /** Where checkpoints go; a fit with the same directory resumes from its latest.json. */
    checkpointDir: z.string().min(1).optional(),
    checkpointEvery: z.number().int().min(1).default(1),
    seed: z.number().int().min(0).default(0),
    /** Show a progress bar (notebook: updates in place). */
    progress: z.boolean().default(true),
    onStep: z.custom<(m: GrpoStepMetrics) => void>((f) => f === undefined || typeof f === "function").optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const served = [o.model, ...Object.keys(o.policies ?? {})];
    if (o.policies && Object.hasOwn(o.policies, o.model))
      ctx.addIssue({ code: "custom", path: ["policies"], message: `${o.model} is already \`model\`; name each served model once` });
    for (const [name, a] of Object.entries(o.policies ?? {}))
      if (a.policy !== o.policy)
        ctx.addIssue({ code: "custom", path: ["policies", name], message: "must be an adapter of `policy` (policy.adapter(name))" });
    for (const name of o.train ?? [])
      if (!served.includes(name))
        ctx.addIssue({ code: "custom", path: ["train"], message: `${name} is not served; served models: ${served.join(", ")}` });
  });
export type GrpoOptions = z.input<typeof GrpoOptionsSchema>;

/** One trained model's part of a step (multi-agent runs). */
export interface GrpoModelStepMetrics {
  /** Samples from the calls made under this model name (0: no calls, so no optimizer step). */
  samples: number;
  loss: number;
  kl: number;
  clipFrac: number;
  entropy: number;
  gradNorm: number;
}

export interface GrpoStepMetrics {
  step: number;
  rewardMean: number;
  rewardStd: number;
  samples: number;
  /** Rollouts asked for as episode samples that fell back to per-call samples (prefix property broken). */
  episodeFallbacks: number;
  loss: number;
  kl: number;
  clipFrac: number;
  entropy: number;
  gradNorm: number;
  trainTokensPerSecond: number;
  /** Rollouts of the step: queueing, agents, proxy calls, sampling, span writes. */
  generateSeconds: number;
  /** Reading the step's spans back into training samples (adapter). */
  collectSeconds: number;
  trainSeconds: number;
  stepSeconds: number;
  valReward?: number | null;
  /**
   * Multi-agent runs (`policies`): each trained model's samples and step stats; the fields above then hold
   * the total samples and the sample-weighted means.
   */
  models?: Record<string, GrpoModelStepMetrics>;
}

export interface GrpoResult {
  /** Mean val reward before training (or at resume) and after the last step. */
  before: number | null;
  after: number | null;
  history: GrpoStepMetrics[];
  steps: number;
  /** The trained policy; its named adapters (`policy.adapter(name)`) hold each agent's weights. */
  policy: Policy;
  metricsRolloutId: string;
}

export class GrpoAlgorithm implements Algorithm<GrpoResult> {
  readonly name = "grpo";
  private readonly o: z.output<typeof GrpoOptionsSchema>;
  private policyNow: Policy;

  constructor(options: GrpoOptions) {
    this.o = parseOrThrow(GrpoOptionsSchema, options, "algorithms.grpo");
    this.policyNow = this.o.policy;
  }

  /** The policy being trained (a resumed run loads its checkpoint into a new one). */
  get policy(): Policy {
    return this.policyNow;
  }

  async run(ctx: AlgorithmContext): Promise<GrpoResult> {
    const o = this.o;
    recordSeed("grpo", o.seed);
    const resumed = await latestCheckpoint(o.checkpointDir);
    let history: GrpoStepMetrics[] = [];
    let firstStep = 0;
    if (resumed) {
      const { Policy } = await import("../native/policy.js");
      this.policyNow = await Policy.load(resumed.path);
      history = resumed.history as GrpoStepMetrics[];
      firstStep = resumed.step;
      ctx.log(`grpo: resuming from ${resumed.path} (step ${resumed.step})`);
    }
    const policy = this.policyNow;
    // A resumed policy is a new object: its adapters are found again by name.
    const policies = o.policies
      ? Object.fromEntries(Object.entries(o.policies).map(([model, a]) => [model, policy.adapter(a.name)]))
      : undefined;
    const trainModels = [...new Set(o.train ?? (policies ? Object.keys(policies) : [o.model]))];
    const trained = new Map<string, Policy | PolicyAdapter>(trainModels.map((m) => [m, m === o.model ? policy : policies![m]]));
    // Without `policies` only `model` is served: the single-policy path, exactly as before.
    const multi = policies !== undefined;
    const reference = o.klBeta > 0 ? policy.clone() : undefined;
    const referenceOf = (m: string) => (m === o.model || !reference ? reference : reference.adapter(policies![m].name));
    const stepsPerEpoch = Math.max(1, Math.ceil(ctx.train.length / o.batchSize));
    const totalSteps = o.steps ?? stepsPerEpoch * o.epochs;
    const order = (epoch: number) => shuffled(ctx.train, o.seed + epoch);
    const config = {
      ...o,
      policy: undefined,
      tokenizer: undefined,
      chatTemplate: undefined,
      onStep: undefined,
      policies: policies ? Object.fromEntries(Object.entries(policies).map(([m, a]) => [m, a.name])) : undefined,
      train: trainModels,
    };
    try {
      return await withServedPolicy(ctx, { ...o, policy, policies }, "grpo", config, async (served, metrics) => {
        const bar = o.progress ? progress({ total: totalSteps, label: "GRPO steps" }) : null;
        const before = await evaluate(ctx, served.evalResourcesId, firstStep);
        await metrics.write("val", firstStep, { valReward: before });
        let after = before;
        bar?.update(firstStep, before !== null ? { "val reward": round(before) } : {});
        for (let step = firstStep; step < totalSteps; step++) {
          if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
          const t0 = performance.now();
          const epoch = Math.floor(step / stepsPerEpoch);
          const start = (step % stepsPerEpoch) * o.batchSize;
          const tasks = order(epoch).slice(start, start + o.batchSize);
          const rollouts = await runGroups(
            ctx,
            tasks,
            o.groupSize,
            served.trainResourcesId,
            { step, algorithm: "grpo" },
            step * o.batchSize,
          );
          const tRolled = performance.now();
          const sampleOpts = {
            shape: o.shape,
            advantages: { baseline: o.baseline, normalizeStd: o.normalizeStd, estimator: o.advantage },
          };
          const { byModel, rewards, fallbacks } = multi
            ? await collectSamplesByModel(ctx.store, rollouts, o.adapter, trainModels, sampleOpts)
            : await collectSamples(ctx.store, rollouts, o.adapter, sampleOpts).then((c) => ({
                ...c,
                byModel: new Map([[o.model, c.samples]]),
              }));
          if (fallbacks.length)
            ctx.log(`grpo: step ${step + 1}: ${fallbacks.length} rollout(s) trained per call, not as episodes: ${fallbacks[0].reason}`);
          const t1 = performance.now();
          // Each trained model steps on its own samples only; one without calls this step does not step.
          const perModel = new Map<string, { samples: number; stats: TrainStats | null }>();
          for (const [model, samples] of byModel) {
            const stats = samples.length ? await this.update(trained.get(model)!, samples, referenceOf(model), totalSteps, step) : null;
            perModel.set(model, { samples: samples.length, stats });
          }
          const t2 = performance.now();
          const nSamples = [...perModel.values()].reduce((n, x) => n + x.samples, 0);
          const stats: StepStats | null = multi ? weightedStats(perModel, nSamples) : perModel.get(o.model)!.stats;
          const m: GrpoStepMetrics = {
            step: step + 1,
            rewardMean: mean(rewards),
            rewardStd: std(rewards),
            samples: nSamples,
            episodeFallbacks: fallbacks.length,
            loss: stats?.loss ?? 0,
            kl: stats?.kl ?? 0,
            clipFrac: stats?.clipFrac ?? 0,
            entropy: stats?.entropy ?? 0,
            gradNorm: stats?.gradNorm ?? 0,
            trainTokensPerSecond: stats?.tokensPerSecond ?? 0,
            generateSeconds: (tRolled - t0) / 1000,
            collectSeconds: (t1 - tRolled) / 1000,
            trainSeconds: (t2 - t1) / 1000,
            stepSeconds: 0,
          };
          if (multi)
            m.models = Object.fromEntries(
              [...perModel].map(([model, x]) => [
                model,
                {
                  samples: x.samples,
                  loss: x.stats?.loss ?? 0,
                  kl: x.stats?.kl ?? 0,
                  clipFrac: x.stats?.clipFrac ?? 0,
                  entropy: x.stats?.entropy ?? 0,
                  gradNorm: x.stats?.gradNorm ?? 0,
                },
              ]),
            );
          if (o.evalEvery > 0 && (step + 1) % o.evalEvery === 0 && step + 1 < totalSteps) {
            m.valReward = after = await evaluate(ctx, served.evalResourcesId, step + 1);
          }
          m.stepSeconds = (performance.now() - t0) / 1000;
          history.push(m);
          await metrics.write("train", step + 1, { ...m, models: undefined, ...flatModels(m.models) });
          if (o.checkpointDir && ((step + 1) % o.checkpointEvery === 0 || step + 1 === totalSteps)) {
            const ck = await saveCheckpoint(o.checkpointDir, step + 1, (p) => policy.save(p), history);
            await ctx.store.updateResources(served.trainResourcesId, {
              ...(await ctx.store.getResourcesById(served.trainResourcesId))!.resources,
              checkpoint: { resourceType: "checkpoint", path: ck.path, metadata: { step: step + 1, algorithm: "grpo" } },
            });
          }
          o.onStep?.(m);
          bar?.update(step + 1, { reward: round(m.rewardMean), ...(m.valReward != null ? { "val reward": round(m.valReward) } : {}) });
        }
        if (totalSteps > firstStep) after = await evaluate(ctx, served.evalResourcesId, totalSteps);
        await metrics.write("val", totalSteps, { valReward: after });
        bar?.done(after !== null ? { "val reward": round(after) } : {});
        ctx.log(`grpo: ${totalSteps - firstStep} steps; val reward ${fmt(before)} -> ${fmt(after)}`);
        return { before, after, history, steps: totalSteps, policy, metricsRolloutId: metrics.rolloutId };
      });
    } finally {
      await reference?.dispose();
    }
  }

  private async update(
    policy: Policy | PolicyAdapter,
    samples: Sample[],
    reference: Policy | PolicyAdapter | undefined,
    totalSteps: number,
    step: number,
  ): Promise<TrainStats> {
    const o = this.o;
    const clip = typeof o.clip === "number" ? { low: o.clip, high: o.clip } : o.clip;
    const batch = {
      prompts: samples.map((s) => s.prompt),
      responses: samples.map((s) => s.response),
      // collectSamples computed the advantages: per call credit against the chosen baseline.
      advantages: samples.map((s) => s.advantage ?? 0),
      ...(samples.some((s) => s.mask) ? { mask: samples.map((s) => s.mask ?? s.response.map(() => 1)) } : {}),
      // Logprobs the proxy recorded at sampling time are the old policy's; any missing falls back to recomputation.
      ...(samples.every((s) => s.logprobs.length === s.response.length) ? { oldLogprobs: samples.map((s) => s.logprobs) } : {}),
    };
    let stats!: TrainStats;
    for (let k = 0; k < o.updatesPerBatch; k++) {
      // The schedule counts this fit's optimizer steps, not the policy's: a warm-started policy has taken
      // steps already, and the native schedule (which counts those) would start it decayed or at lr 0.
      const lr = lrAt(o.lr, o.warmupSteps, totalSteps * o.updatesPerBatch, step * o.updatesPerBatch + k);
      stats = await policy.trainStep(batch, {
        loss: "grpo",
        lr,
        clipLow: clip.low,
        clipHigh: clip.high,
        klBeta: o.klBeta,
        reference,
        entropyCoef: o.entropyCoef,
        aggregation: o.aggregation,
        maxGradNorm: o.maxGradNorm,
        beta2: o.beta2,
        warmupSteps: 0,
        totalSteps: 0,
      });
    }
    return stats;
  }
}

/** Linear warmup then cosine to 0 by totalSteps, as native/src/adamw.h's lr_at (step 0-based). */
export function lrAt(lr: number, warmupSteps: number, totalSteps: number, step: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  if (totalSteps <= 0) return lr;
  const decay = totalSteps - warmupSteps;
  if (decay <= 0) return 0;
  const t = Math.min(1, (step - warmupSteps) / decay);
  return 0.5 * lr * (1 + Math.cos(Math.PI * t));
}

type StepStats = Pick<TrainStats, "loss" | "kl" | "clipFrac" | "entropy" | "gradNorm" | "tokensPerSecond">;

/** What a multi-agent step reports at the top: sample-weighted means of the trained models' stats, and their joint token rate. */
function weightedStats(perModel: Map<string, { samples: number; stats: TrainStats | null }>, total: number): StepStats | null {
  const ran = [...perModel.values()].filter((x): x is { samples: number; stats: TrainStats } => x.stats !== null);
  if (!total || !ran.length) return null;
  const w = (k: "loss" | "kl" | "clipFrac" | "entropy" | "gradNorm") => ran.reduce((acc, x) => acc + x.stats[k] * x.samples, 0) / total;
  const seconds = ran.reduce((acc, x) => acc + x.stats.seconds, 0);
  const tokens = ran.reduce((acc, x) => acc + x.stats.totalTokens, 0);
  return {
    loss: w("loss"),
    kl: w("kl"),
    clipFrac: w("clipFrac"),
    entropy: w("entropy"),
    gradNorm: w("gradNorm"),
    tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
  };
}

/** Per-model metrics as flat numeric columns (`model.<name>.<metric>`), the only shape a metrics row holds. */
function flatModels(models: GrpoStepMetrics["models"]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(models ?? {})) for (const [k, x] of Object.entries(v)) out[`model.${name}.${k}`] = x;
  return out;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const fmt = (x: number | null) => (x === null ? "n/a" : x.toFixed(3));

export function grpo(options: GrpoOptions): GrpoAlgorithm {
  return new GrpoAlgorithm(options);
}

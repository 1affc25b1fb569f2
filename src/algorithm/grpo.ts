// GRPO (group relative policy optimization) over agents: every task runs
// groupSize times on the current policy through the LLM proxy, the adapter
// turns the traces into (prompt ids, response ids, logprobs, reward), and
// the native trainer takes clipped policy-gradient steps on group-relative
// advantages. Checkpoints resume a stopped fit.
import { z } from "zod";
import { parseOrThrow } from "../types/index.js";
import type { AdapterOptions } from "../adapter/index.js";
import type { TokenizerLike } from "../llm/index.js";
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import type { Policy, TrainStats } from "../native/policy.js";
import { progress } from "../display/progress.js";
import { recordSeed } from "../display/run-info.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";
import {
  collectSamples,
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
    /** Model name the agents ask the proxy for. */
    model: z.string().min(1).default("arclight-policy"),
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
  .strict();
export type GrpoOptions = z.input<typeof GrpoOptionsSchema>;

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
}

export interface GrpoResult {
  /** Mean val reward before training (or at resume) and after the last step. */
  before: number | null;
  after: number | null;
  history: GrpoStepMetrics[];
  steps: number;
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
    const reference = o.klBeta > 0 ? policy.clone() : undefined;
    const stepsPerEpoch = Math.max(1, Math.ceil(ctx.train.length / o.batchSize));
    const totalSteps = o.steps ?? stepsPerEpoch * o.epochs;
    const order = (epoch: number) => shuffled(ctx.train, o.seed + epoch);
    const config = { ...o, policy: undefined, tokenizer: undefined, chatTemplate: undefined, onStep: undefined };
    try {
      return await withServedPolicy(ctx, { ...o, policy }, "grpo", config, async (served, metrics) => {
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
          const { samples, rewards, fallbacks } = await collectSamples(ctx.store, rollouts, o.adapter, {
            shape: o.shape,
            advantages: { baseline: o.baseline, normalizeStd: o.normalizeStd, estimator: o.advantage },
          });
          if (fallbacks.length)
            ctx.log(`grpo: step ${step + 1}: ${fallbacks.length} rollout(s) trained per call, not as episodes: ${fallbacks[0].reason}`);
          const t1 = performance.now();
          const stats = samples.length ? await this.update(policy, samples, reference, totalSteps, step) : null;
          const t2 = performance.now();
          const m: GrpoStepMetrics = {
            step: step + 1,
            rewardMean: mean(rewards),
            rewardStd: std(rewards),
            samples: samples.length,
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
          if (o.evalEvery > 0 && (step + 1) % o.evalEvery === 0 && step + 1 < totalSteps) {
            m.valReward = after = await evaluate(ctx, served.evalResourcesId, step + 1);
          }
          m.stepSeconds = (performance.now() - t0) / 1000;
          history.push(m);
          await metrics.write("train", step + 1, { ...m });
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
    policy: Policy,
    samples: Sample[],
    reference: Policy | undefined,
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

const round = (x: number) => Math.round(x * 1000) / 1000;
const fmt = (x: number | null) => (x === null ? "n/a" : x.toFixed(3));

export function grpo(options: GrpoOptions): GrpoAlgorithm {
  return new GrpoAlgorithm(options);
}

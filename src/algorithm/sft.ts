// Rejection-sampling SFT (filtered behaviour cloning): sample each task k
// times on the current policy, keep the best-rewarded responses at or above
// a threshold, and fine-tune on them with masked cross-entropy. It can also
// learn from rollouts already in the store (`fromStore`).
import { z } from "zod";
import { parseOrThrow, type Rollout } from "../types/index.js";
import type { AdapterOptions } from "../adapter/index.js";
import type { TokenizerLike } from "../llm/index.js";
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import type { Policy, TrainStats } from "../native/policy.js";
import { progress } from "../display/progress.js";
import { recordSeed } from "../display/run-info.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";
import { collectSamples, evaluate, mean, runGroups, shuffled, withServedPolicy, type Sample } from "./policy-loop.js";

const SftOptionsSchema = z
  .object({
    policy: z.custom<Policy>((p) => !!p && typeof (p as Policy).trainStep === "function", "a native Policy (agl.native.Policy.create)"),
    tokenizer: z.custom<TokenizerLike>((t) => !!t && typeof (t as TokenizerLike).encode === "function", "a tokenizer"),
    model: z.string().min(1).default("arclight-policy"),
    /** How the proxy renders conversations (tools included) for the policy; default the tokenizer's own template. */
    chatTemplate: z
      .custom<ChatTemplate>((t) => t === undefined || (!!t && typeof (t as ChatTemplate).render === "function"), "a ChatTemplate")
      .optional(),
    /** Samples per task when sampling fresh rollouts. */
    samplesPerTask: z.number().int().min(1).max(256).default(4),
    /** Keep responses whose reward is at least this. */
    minReward: z.number().default(1),
    /** Keep only the best response of each task (true) or every one above the threshold. */
    bestOnly: z.boolean().default(true),
    /** Learn from the store's finished train rollouts instead of sampling new ones. */
    fromStore: z.boolean().default(false),
    rounds: z.number().int().min(1).default(1),
    epochs: z.number().int().min(1).default(2),
    batchSize: z.number().int().min(1).default(16),
    lr: z.number().positive().max(10).default(1e-3),
    temperature: z.number().min(0).max(2).default(1),
    evalTemperature: z.number().min(0).max(2).default(0),
    maxTokens: z.number().int().min(1).default(16),
    /** Which calls train and the credit that minReward is checked against (rewardAssignment "final" unless set). */
    adapter: z.custom<AdapterOptions>((a) => a === undefined || (typeof a === "object" && a !== null)).default({}),
    /** One sample per LLM call, or one masked sequence per episode (tool results and user turns not trained). */
    shape: z.enum(["call", "episode"]).default("call"),
    seed: z.number().int().min(0).default(0),
    progress: z.boolean().default(true),
  })
  .strict();
export type SftOptions = z.input<typeof SftOptionsSchema>;

export interface SftResult {
  before: number | null;
  after: number | null;
  kept: number;
  steps: number;
  history: { step: number; loss: number; tokensPerSecond: number }[];
  metricsRolloutId: string;
}

export class SftAlgorithm implements Algorithm<SftResult> {
  readonly name = "sft";
  private readonly o: z.output<typeof SftOptionsSchema>;
  constructor(options: SftOptions) {
    this.o = parseOrThrow(SftOptionsSchema, options, "algorithms.sft");
  }

  async run(ctx: AlgorithmContext): Promise<SftResult> {
    const o = this.o;
    recordSeed("sft", o.seed);
    return withServedPolicy(
      ctx,
      o,
      "sft",
      { ...o, policy: undefined, tokenizer: undefined, chatTemplate: undefined },
      async (served, metrics) => {
        const history: SftResult["history"] = [];
        let kept = 0;
        let step = 0;
        const before = await evaluate(ctx, served.evalResourcesId, 0);
        await metrics.write("val", 0, { valReward: before });
        for (let round = 0; round < o.rounds; round++) {
          const rollouts: Rollout[] = o.fromStore
            ? (await ctx.store.queryRollouts({ status: "succeeded", mode: "train" })).filter(
                (r) => (r.metadata as { kind?: unknown }).kind !== "algorithm",
              )
            : await runGroups(
                ctx,
                ctx.train,
                o.samplesPerTask,
                served.trainResourcesId,
                { round, algorithm: "sft" },
                round * ctx.train.length,
              );
          const { samples, fallbacks } = await collectSamples(ctx.store, rollouts, o.adapter, { shape: o.shape });
          if (fallbacks.length)
            ctx.log(`sft: round ${round}: ${fallbacks.length} rollout(s) trained per call, not as episodes: ${fallbacks[0].reason}`);
          const chosen = this.filter(samples);
          kept += chosen.length;
          await metrics.write("data", step, {
            kept: chosen.length,
            candidates: samples.length,
            meanReward: mean(samples.map((s) => s.reward)),
          });
          if (!chosen.length) {
            ctx.log(`sft: round ${round}: no response reached reward ${o.minReward}; nothing to learn from`);
            continue;
          }
          const perEpoch = Math.ceil(chosen.length / o.batchSize);
          const bar = o.progress ? progress({ total: perEpoch * o.epochs, label: `SFT round ${round + 1}` }) : null;
          for (let e = 0; e < o.epochs; e++) {
            const order = shuffled(chosen, o.seed + round * 1000 + e);
            for (let b = 0; b < perEpoch; b++) {
              if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
              const part = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
              const masked = part.some((s) => s.mask) ? { mask: part.map((s) => s.mask ?? s.response.map(() => 1)) } : {};
              const stats: TrainStats = await o.policy.trainStep(
                { prompts: part.map((s) => s.prompt), responses: part.map((s) => s.response), ...masked },
                { loss: "sft", lr: o.lr },
              );
              step++;
              history.push({ step, loss: stats.loss, tokensPerSecond: stats.tokensPerSecond });
              await metrics.write("train", step, { loss: stats.loss, tokensPerSecond: stats.tokensPerSecond, gradNorm: stats.gradNorm });
              bar?.update(e * perEpoch + b + 1, { loss: Math.round(stats.loss * 1000) / 1000 });
            }
          }
          bar?.done();
        }
        const after = await evaluate(ctx, served.evalResourcesId, step);
        await metrics.write("val", step, { valReward: after });
        ctx.log(`sft: ${kept} responses, ${step} steps; val reward ${before?.toFixed(3) ?? "n/a"} -> ${after?.toFixed(3) ?? "n/a"}`);
        return { before, after, kept, steps: step, history, metricsRolloutId: metrics.rolloutId };
      },
    );
  }

  /** Samples whose credit reaches minReward; with bestOnly, only those of each group's best rollout (mean credit; all its calls). */
  private filter(samples: Sample[]): Sample[] {
    const good = samples.filter((s) => s.reward >= this.o.minReward);
    if (!this.o.bestOnly) return good;
    const sums = new Map<string, [number, number]>();
    for (const s of good) {
      const [sum, n] = sums.get(s.rolloutId) ?? [0, 0];
      sums.set(s.rolloutId, [sum + s.reward, n + 1]);
    }
    const score = new Map([...sums].map(([id, [sum, n]]) => [id, sum / n]));
    const best = new Map<number, string>();
    for (const s of good) {
      const b = best.get(s.group);
      if (b === undefined || score.get(s.rolloutId)! > score.get(b)!) best.set(s.group, s.rolloutId);
    }
    return good.filter((s) => best.get(s.group) === s.rolloutId);
  }
}

export function sft(options: SftOptions): SftAlgorithm {
  return new SftAlgorithm(options);
}

// agl.algorithms.promptSearch: which of the prompts a researcher wrote is
// best, measured by real rollouts of the agent, with as few rollouts as the
// evidence allows (successive halving, paired comparisons, early stop).
import { z } from "zod";
import type { LightningStore } from "../store/lightning-store.js";
import { parseOrThrow, ValidationError, type NamedResources, type PromptTemplate } from "../types/index.js";
import { NamedResourcesSchema, PromptTemplateSchema } from "../types/resources.js";
import { finalReward } from "../adapter/rewards.js";
import { recordSeed } from "../display/run-info.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";
import { waitAll } from "./baseline.js";
import { race, type RaceResult } from "./prompt-search-race.js";
import { AlgorithmLog } from "./apo-log.js";

export const PROMPT_RESOURCE = "prompt_template";

/** A prompt as the user writes it: a template string (f-string `{name}` slots) or a full prompt_template resource. */
export const PromptInputSchema = z.union([
  z.string().min(1, "a prompt must not be empty"),
  PromptTemplateSchema.omit({ resourceType: true }).extend({ resourceType: z.literal("prompt_template").optional() }),
]);
export type PromptInput = z.input<typeof PromptInputSchema>;

export function toTemplate(p: PromptInput): PromptTemplate {
  const v = parseOrThrow(PromptInputSchema, p, "prompt");
  return typeof v === "string"
    ? { resourceType: "prompt_template", template: v, engine: "f-string" }
    : { resourceType: "prompt_template", template: v.template, engine: v.engine ?? "f-string" };
}

export const SearchCommonSchema = z.object({
  seed: z.number().int().min(0).default(0),
  /** Confidence of the intervals and of the paired test that crowns a winner. */
  confidence: z.number().gt(0.5).lt(1).default(0.95),
  /** Bounds of the agent's reward (the intervals need them). */
  rewardRange: z
    .tuple([z.number(), z.number()])
    .refine(([a, b]) => b > a, "rewardRange must be [lo, hi] with hi > lo")
    .default([0, 1]),
  /** Name of the prompt template in the resources the agent receives. */
  resourceName: z.string().min(1).default(PROMPT_RESOURCE),
  /** Other resources every candidate runs with (an LLM endpoint, ...); default: the store's latest set, prompt templates left out. */
  resources: NamedResourcesSchema.optional(),
});

const PromptSearchSchema = SearchCommonSchema.extend({
  candidates: z.array(PromptInputSchema).min(2, "promptSearch needs at least two candidates"),
  /** Most rollouts the search may run. */
  budget: z.number().int().min(2),
  /** Index of the prompt in use now: kept unless another beats it decisively. null: no reference prompt. */
  incumbent: z.number().int().min(0).nullable().default(0),
}).strict();
export type PromptSearchOptions = z.input<typeof PromptSearchSchema>;

export interface CandidateScore {
  index: number;
  template: string;
  resourcesId: string;
  n: number;
  mean: number;
  lo: number;
  hi: number;
  eliminatedInRound: number | null;
}

export interface PromptSearchResult {
  candidates: CandidateScore[];
  best: number;
  /** Decisive winner, else the incumbent (or null without one). */
  winner: number | null;
  separated: boolean;
  winnerTemplate: string | null;
  spent: number;
  budget: number;
  rounds: RaceResult["rounds"];
  comparisons: RaceResult["comparisons"];
  logRolloutId: string;
}

/** The resources every candidate shares: given ones, else the newest set in the store without its prompt templates. */
export async function baseResources(store: LightningStore, given: NamedResources | undefined): Promise<NamedResources> {
  if (given) return given;
  const latest = await store.getLatestResources();
  return Object.fromEntries(Object.entries(latest?.resources ?? {}).filter(([, r]) => r.resourceType !== "prompt_template"));
}

/** Rewards of `inputs` run once each under `resourcesId`; failed rollouts score the low end of the range. */
export async function rolloutRewards(
  ctx: AlgorithmContext,
  jobs: { resourcesId: string; input: unknown; metadata: Record<string, unknown> }[],
  floor: number,
): Promise<number[]> {
  const rollouts = await ctx.store.enqueueManyRollouts(
    jobs.map((j) => ({
      input: j.input,
      mode: "val" as const,
      resourcesId: j.resourcesId,
      config: ctx.rolloutConfig,
      metadata: j.metadata,
    })),
  );
  const done = await waitAll(
    ctx.store,
    rollouts.map((r) => r.rolloutId),
    ctx.signal,
  );
  const byId = new Map(done.map((r) => [r.rolloutId, r]));
  const out: number[] = [];
  for (const r of rollouts) {
    const d = byId.get(r.rolloutId)!;
    out.push(
      d.status === "succeeded"
        ? (finalReward(await ctx.store.querySpans({ rolloutId: d.rolloutId, attemptId: "latest" })) ?? floor)
        : floor,
    );
  }
  return out;
}

export class PromptSearchAlgorithm implements Algorithm<PromptSearchResult> {
  readonly name = "prompt-search";
  private readonly o: z.output<typeof PromptSearchSchema>;
  constructor(options: PromptSearchOptions) {
    this.o = parseOrThrow(PromptSearchSchema, options, "algorithms.promptSearch");
    const texts = this.o.candidates.map((c) => toTemplate(c).template);
    const dup = texts.findIndex((t, i) => texts.indexOf(t) !== i);
    if (dup >= 0)
      throw new ValidationError("algorithms.promptSearch", [
        `candidates.${dup}: the same prompt as candidate ${texts.indexOf(texts[dup])}`,
      ]);
    if (this.o.budget < texts.length)
      throw new ValidationError("algorithms.promptSearch", [
        `budget ${this.o.budget} is less than one rollout per candidate (${texts.length})`,
      ]);
    if (this.o.incumbent !== null && this.o.incumbent >= texts.length)
      throw new ValidationError("algorithms.promptSearch", [
        `incumbent ${this.o.incumbent} is not a candidate index (0..${texts.length - 1})`,
      ]);
  }

  async run(ctx: AlgorithmContext): Promise<PromptSearchResult> {
    const o = this.o;
    const tasks = ctx.val.length ? ctx.val : ctx.train;
    if (!tasks.length) throw new ValidationError("algorithms.promptSearch", ["no tasks: pass val (or train) tasks to trainer.fit"]);
    recordSeed("prompt-search", o.seed);
    const base = await baseResources(ctx.store, o.resources);
    const templates = o.candidates.map(toTemplate);
    const ids: string[] = [];
    for (const t of templates) ids.push((await ctx.store.addResources({ ...base, [o.resourceName]: t })).resourcesId);
    const log = await AlgorithmLog.open(ctx.store, "prompt-search", {
      budget: o.budget,
      seed: o.seed,
      candidates: templates.map((t) => t.template),
    });
    let error: unknown = null;
    try {
      const r = await race(
        {
          candidates: templates.length,
          taskCount: tasks.length,
          budget: o.budget,
          seed: o.seed,
          incumbent: o.incumbent,
          confidence: o.confidence,
          rewardRange: o.rewardRange,
        },
        async (cands, taskIdx, round) => {
          const jobs = cands.flatMap((c) =>
            taskIdx.map((t) => ({
              resourcesId: ids[c],
              input: tasks[t],
              metadata: { algorithm: "prompt-search", logRolloutId: log.rolloutId, round, candidate: c, task: t },
            })),
          );
          const flat = await rolloutRewards(ctx, jobs, o.rewardRange[0]);
          return cands.map((_, j) => flat.slice(j * taskIdx.length, (j + 1) * taskIdx.length));
        },
      );
      const candidates: CandidateScore[] = r.candidates.map((c) => ({
        index: c.index,
        template: templates[c.index].template,
        resourcesId: ids[c.index],
        n: c.n,
        mean: c.mean,
        lo: c.lo,
        hi: c.hi,
        eliminatedInRound: c.eliminatedInRound,
      }));
      for (const c of candidates)
        await log.record("arclight.prompt_search.score", {
          candidate: c.index,
          template: c.template,
          resourcesId: c.resourcesId,
          n: c.n,
          mean: c.n ? c.mean : null,
          lo: c.lo,
          hi: c.hi,
          eliminatedInRound: c.eliminatedInRound,
          best: c.index === r.best,
          winner: c.index === r.winner,
        });
      const winnerTemplate = r.winner === null ? null : templates[r.winner].template;
      // The winner becomes the latest resources, so the next run of the agent uses it.
      if (r.winner !== null) await ctx.store.addResources({ ...base, [o.resourceName]: templates[r.winner] });
      const fmt = (c: CandidateScore) => `#${c.index} ${c.mean.toFixed(3)} [${c.lo.toFixed(3)}, ${c.hi.toFixed(3)}] n=${c.n}`;
      ctx.log(
        `promptSearch: ${r.spent}/${o.budget} rollouts; best ${fmt(candidates[r.best])}; ${r.separated ? `winner #${r.winner}` : `no decisive winner${r.winner !== null ? `, keeping #${r.winner}` : ""}`}`,
      );
      return {
        candidates,
        best: r.best,
        winner: r.winner,
        separated: r.separated,
        winnerTemplate,
        spent: r.spent,
        budget: o.budget,
        rounds: r.rounds,
        comparisons: r.comparisons,
        logRolloutId: log.rolloutId,
      };
    } catch (e) {
      error = e;
      throw e;
    } finally {
      await log.close(error).catch(() => {});
    }
  }
}

export function promptSearch(options: PromptSearchOptions): PromptSearchAlgorithm {
  return new PromptSearchAlgorithm(options);
}

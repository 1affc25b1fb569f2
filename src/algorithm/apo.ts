// agl.algorithms.apo: Agent Lightning's automatic prompt optimization with
// textual gradients and beam search. The prompt template is a resource the
// agent formats (agl.formatPrompt); each round every prompt in the beam runs
// a few training tasks, the optimizer LLM critiques it from its worst and
// best rollouts and applies the critique as `branchFactor` edits, and the
// beam plus its children race on validation tasks (promptSearch's
// successive halving). A child takes the lead only when it beats the
// incumbent decisively. Every decision is a span of the algorithm's rollout,
// so the run can be read back as rows and resumed from the store.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { LightningStore } from "../store/lightning-store.js";
import { parseOrThrow, ValidationError, type NamedResources, type PromptTemplate } from "../types/index.js";
import { recordSeed } from "../display/run-info.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";
import { shuffled } from "./policy-loop.js";
import { AlgorithmLog } from "./apo-log.js";
import {
  Optimizer,
  OptimizerSchema,
  critiqueMessages,
  editMessages,
  parseEdit,
  rejectEdit,
  traceText,
  type RolloutExample,
} from "./apo-optimizer.js";
import { baseResources, PromptInputSchema, rolloutRewards, SearchCommonSchema, toTemplate } from "./prompt-search.js";
import { race } from "./prompt-search-race.js";
import { scoreInterval } from "./prompt-search-stats.js";
import { readApoRun, APO_SPANS, type ApoRoundRow, type ApoCandidateRow } from "./apo-history.js";
import { paretoFront, reflectiveBest, sampleParent, type ParetoEntry } from "./apo-reflective.js";
import { finalReward } from "../adapter/rewards.js";
import { waitAll } from "./baseline.js";

const ApoSchema = SearchCommonSchema.extend({
  optimizer: OptimizerSchema,
  /** The starting prompt template. */
  prompt: PromptInputSchema,
  beamWidth: z.number().int().min(1).max(64).default(2),
  branchFactor: z.number().int().min(1).max(64).default(2),
  rounds: z.number().int().min(1).max(1000).default(3),
  /** Training tasks each beam prompt runs before its critique. */
  gradientBatchSize: z.number().int().min(1).max(1024).default(4),
  /** Worst and best rollouts shown to the optimizer (this many of each). */
  critiqueExamples: z.number().int().min(1).max(64).default(2),
  /** Validation rollouts per candidate per round; the race spends valBatchSize x candidates at most. */
  valBatchSize: z.number().int().min(1).max(100_000).default(16),
  /** Longest prompt an edit may produce. */
  maxPromptChars: z.number().int().min(16).max(200_000).default(8000),
  /** Name of this run in the store (default: a fresh id); resume reads the run of this name. */
  runId: z.string().min(1).max(128).optional(),
  /** Continue the run named runId (or the newest APO run) from its last finished round. */
  resume: z.boolean().default(false),
  /**
   * GEPA-style reflective evolution instead of the beam: each round draws one parent from the Pareto
   * front of all prompts so far (scored task by task on a fixed validation set), reflects on its traces
   * to write one child, and keeps the child when it beats the parent on the same training tasks.
   * beamWidth and branchFactor are unused in this mode.
   */
  reflective: z.boolean().default(false),
  /** Called after each finished round (progress, or stopping the run from a test or notebook). */
  onRound: z.custom<(row: ApoRoundRow) => unknown>((f) => f === undefined || typeof f === "function", "a function").optional(),
}).strict();
export type ApoOptions = z.input<typeof ApoSchema>;

export interface ApoCandidate {
  id: string;
  template: PromptTemplate;
  resourcesId: string;
  parentId: string | null;
  round: number;
}

export interface ApoResult {
  runId: string;
  best: { id: string; template: string; mean: number; lo: number; hi: number; n: number };
  first: { id: string; template: string; mean: number; lo: number; hi: number; n: number };
  rounds: ApoRoundRow[];
  /** Rollouts this run has spent in all (gradient + validation, across resumes). */
  spent: number;
  /** The resources id whose newest version holds the best prompt (one version per round). */
  bestResourcesId: string;
  logRolloutId: string;
  /** The round it continued after, when resumed. */
  resumedAfterRound: number | null;
}

export class ApoAlgorithm implements Algorithm<ApoResult> {
  readonly name = "apo";
  private readonly o: z.output<typeof ApoSchema>;
  constructor(options: ApoOptions) {
    this.o = parseOrThrow(ApoSchema, options, "algorithms.apo");
  }

  async run(ctx: AlgorithmContext): Promise<ApoResult> {
    const o = this.o;
    const valTasks = ctx.val.length ? ctx.val : ctx.train;
    const trainTasks = ctx.train.length ? ctx.train : ctx.val;
    if (!valTasks.length) throw new ValidationError("algorithms.apo", ["no tasks: pass train (and val) tasks to trainer.fit"]);
    recordSeed("apo", o.seed);
    const store = ctx.store;
    const previous = o.resume ? await readApoRun(store, o.runId) : null;
    if (o.resume && !previous)
      throw new ValidationError("algorithms.apo", [
        o.runId ? `resume: no APO run named ${JSON.stringify(o.runId)} in this store` : "resume: no APO run in this store",
      ]);
    const mode = o.reflective ? "reflective" : "beam";
    const prevMode = previous?.rounds.at(-1)?.mode;
    if (prevMode && prevMode !== mode)
      throw new ValidationError("algorithms.apo", [
        `resume: run ${JSON.stringify(previous!.runId)} ran in ${prevMode} mode; resume it with reflective: ${prevMode === "reflective"}`,
      ]);
    const runId = previous?.runId ?? o.runId ?? `apo-${randomBytes(4).toString("hex")}`;
    const base = await baseResources(store, o.resources);
    const optimizer = new Optimizer(o.optimizer);
    const log = await AlgorithmLog.open(
      store,
      "apo",
      { ...o, optimizer: { ...o.optimizer, apiKey: "(hidden)" }, onRound: undefined, runId },
      { runId },
    );
    const bestResourcesId = `${runId}-best`;
    const candidates = new Map<string, ApoCandidate>();
    let error: unknown = null;
    try {
      const publish = async (template: PromptTemplate): Promise<string> =>
        (await store.addResources({ ...base, [o.resourceName]: template })).resourcesId;
      const addCandidate = async (c: Omit<ApoCandidate, "resourcesId">, origin: string): Promise<ApoCandidate> => {
        const cand = { ...c, resourcesId: await publish(c.template) };
        candidates.set(cand.id, cand);
        await log.record(APO_SPANS.candidate, {
          runId,
          id: cand.id,
          parentId: cand.parentId,
          round: cand.round,
          template: cand.template.template,
          engine: cand.template.engine,
          resourcesId: cand.resourcesId,
          origin,
        });
        return cand;
      };
      const rounds: ApoRoundRow[] = [...(previous?.rounds ?? [])];
      let spent = rounds.at(-1)?.spent ?? 0;
      let beam: string[];
      let startRound: number;
      let seedScores: number[] = [];
      if (previous && rounds.length) {
        for (const c of previous.candidates) candidates.set(c.id, fromRow(c));
        beam = [...rounds.at(-1)!.beam];
        startRound = rounds.at(-1)!.round + 1;
        ctx.log(`apo: resuming ${runId} after round ${startRound - 1} (${spent} rollouts spent so far)`);
      } else {
        // Round 0 scores the starting prompt alone, the baseline every later round is read against.
        const seedCand = await addCandidate({ id: "r0c0", template: toTemplate(o.prompt), parentId: null, round: 0 }, "seed");
        const idx = shuffled(
          valTasks.map((_, i) => i),
          o.seed * 7919,
        ).slice(0, Math.min(o.valBatchSize, valTasks.length));
        const rewards = await rolloutRewards(
          ctx,
          idx.map((t) => ({
            resourcesId: seedCand.resourcesId,
            input: valTasks[t],
            metadata: { algorithm: "apo", runId, round: 0, phase: "val", candidate: seedCand.id },
          })),
          o.rewardRange[0],
        );
        spent += rewards.length;
        seedScores = rewards;
        const s = scoreInterval(rewards, { confidence: o.confidence, range: o.rewardRange });
        await log.record(APO_SPANS.score, {
          runId,
          round: 0,
          candidate: seedCand.id,
          n: s.n,
          mean: s.mean,
          lo: s.lo,
          hi: s.hi,
          eliminatedInRound: null,
          inBeam: true,
          taskScores: rewards,
        });
        beam = [seedCand.id];
        const row = await this.finishRound(store, log, runId, 0, beam, seedCand, s, false, spent, 0, rewards.length, bestResourcesId, base);
        rounds.push(row);
        await o.onRound?.(row);
        startRound = 1;
      }

      if (o.reflective) {
        // The Pareto set is round 0's validation tasks; every pool member has a score on each.
        const paretoIdx = shuffled(
          valTasks.map((_, i) => i),
          o.seed * 7919,
        ).slice(0, Math.min(o.valBatchSize, valTasks.length));
        const pool: ParetoEntry[] = (previous?.scores ?? [])
          .filter((x) => Array.isArray(x.taskScores))
          .map((x) => ({ id: x.candidate, scores: x.taskScores! }));
        if (!previous?.rounds.length) pool.push({ id: rounds[0].best, scores: seedScores });
        spent = await this.reflectiveRounds({
          ctx,
          log,
          runId,
          optimizer,
          candidates,
          addCandidate,
          rounds,
          spent,
          startRound,
          valTasks,
          trainTasks,
          paretoIdx,
          pool,
          bestResourcesId,
          base,
        });
      }
      for (let round = startRound; !o.reflective && round <= o.rounds; round++) {
        if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
        // 1. textual gradients: run each beam prompt on a few training tasks, critique, edit.
        const children: ApoCandidate[] = [];
        let calls = 0;
        let failures = 0;
        let lastError: unknown = null;
        let gradientRollouts = 0;
        let next = 1;
        for (const [pi, parentId] of beam.entries()) {
          const parent = candidates.get(parentId)!;
          const idx = shuffled(
            trainTasks.map((_, i) => i),
            o.seed * 1_000_003 + round * 101 + pi,
          ).slice(0, Math.min(o.gradientBatchSize, trainTasks.length));
          const examples = await this.gradientRollouts(
            ctx,
            idx.map((t) => trainTasks[t]),
            parent,
            { algorithm: "apo", runId, round, phase: "gradient", candidate: parent.id },
          );
          gradientRollouts += examples.length;
          const sorted = [...examples].sort((a, b) => a.reward - b.reward);
          const k = Math.min(o.critiqueExamples, Math.ceil(sorted.length / 2));
          const shown = sorted.length <= 2 * k ? sorted : [...sorted.slice(0, k), ...sorted.slice(-k)];
          let critique: string;
          calls++;
          try {
            critique = await optimizer.complete(
              log.scope,
              critiqueMessages(parent.template, shown, o.rewardRange),
              o.seed + round * 7919 + pi * 131,
              ctx.signal,
            );
          } catch (e) {
            if (ctx.signal.aborted) throw e;
            failures++;
            lastError = e;
            await log.record(APO_SPANS.critique, {
              runId,
              round,
              parentId,
              critique: null,
              error: errText(e),
              rewards: sorted.map((x) => x.reward),
            });
            continue;
          }
          await log.record(APO_SPANS.critique, { runId, round, parentId, critique, error: null, rewards: sorted.map((x) => x.reward) });
          for (let v = 1; v <= o.branchFactor; v++) {
            calls++;
            let reply: string;
            try {
              reply = await optimizer.complete(
                log.scope,
                editMessages(parent.template, critique, v, o.branchFactor),
                o.seed + round * 7919 + pi * 131 + v,
                ctx.signal,
              );
            } catch (e) {
              if (ctx.signal.aborted) throw e;
              failures++;
              lastError = e;
              await log.record(APO_SPANS.edit, {
                runId,
                round,
                parentId,
                variant: v,
                candidate: null,
                template: null,
                rejected: errText(e),
              });
              continue;
            }
            const text = parseEdit(reply);
            const dup = [...candidates.values()].find((c) => c.template.template === text && (c.round === round || beam.includes(c.id)));
            const rejected = rejectEdit(parent.template, text, o.maxPromptChars) ?? (dup ? `same prompt as ${dup.id}` : null);
            const id = rejected ? null : `r${round}c${next++}`;
            await log.record(APO_SPANS.edit, { runId, round, parentId, variant: v, candidate: id, template: text, rejected });
            if (id) children.push(await addCandidate({ id, template: { ...parent.template, template: text }, parentId, round }, "edit"));
          }
        }
        if (calls > 0 && failures === calls)
          throw new Error(`apo: every optimizer call of round ${round} failed; last error: ${errText(lastError)}`);

        if (!children.length) {
          // Every edit was refused: nothing new to race, so the beam and its scores carry over.
          spent += gradientRollouts;
          const prev = rounds.at(-1)!;
          const row = await this.finishRound(
            store,
            log,
            runId,
            round,
            beam,
            candidates.get(prev.best)!,
            { n: prev.bestN, mean: prev.bestMean, lo: prev.bestLo, hi: prev.bestHi },
            false,
            spent,
            gradientRollouts,
            0,
            bestResourcesId,
            base,
          );
          rounds.push(row);
          ctx.log(`apo round ${round}: no usable edit; beam unchanged`);
          await o.onRound?.(row);
          continue;
        }
        // 2. race the beam and its children on validation tasks; the beam's head is the incumbent.
        const pool = [...beam.map((id) => candidates.get(id)!), ...children];
        const r = await race(
          {
            candidates: pool.length,
            taskCount: valTasks.length,
            budget: o.valBatchSize * pool.length,
            seed: o.seed * 31 + round,
            incumbent: 0,
            confidence: o.confidence,
            rewardRange: o.rewardRange,
          },
          async (cands, taskIdx, step) => {
            const jobs = cands.flatMap((c) =>
              taskIdx.map((t) => ({
                resourcesId: pool[c].resourcesId,
                input: valTasks[t],
                metadata: { algorithm: "apo", runId, round, step, phase: "val", candidate: pool[c].id },
              })),
            );
            const flat = await rolloutRewards(ctx, jobs, o.rewardRange[0]);
            return cands.map((_, j) => flat.slice(j * taskIdx.length, (j + 1) * taskIdx.length));
          },
        );
        spent += gradientRollouts + r.spent;
        // 3. the new beam: the winner (or the incumbent) first, then the rest by how far they got and their mean.
        const order = r.candidates
          .filter((c) => c.n > 0)
          .sort((a, b) => (b.eliminatedInRound ?? Infinity) - (a.eliminatedInRound ?? Infinity) || b.mean - a.mean || a.index - b.index)
          .map((c) => c.index);
        const head = r.winner ?? 0;
        const newBeam = [head, ...order.filter((i) => i !== head)].slice(0, o.beamWidth).map((i) => pool[i].id);
        for (const c of r.candidates)
          await log.record(APO_SPANS.score, {
            runId,
            round,
            candidate: pool[c.index].id,
            n: c.n,
            mean: c.n ? c.mean : null,
            lo: c.lo,
            hi: c.hi,
            eliminatedInRound: c.eliminatedInRound,
            inBeam: newBeam.includes(pool[c.index].id),
          });
        const best = pool[head];
        const bs = r.candidates[head];
        const row = await this.finishRound(
          store,
          log,
          runId,
          round,
          newBeam,
          best,
          bs,
          r.separated,
          spent,
          gradientRollouts,
          r.spent,
          bestResourcesId,
          base,
        );
        rounds.push(row);
        beam = newBeam;
        ctx.log(
          `apo round ${round}: ${children.length} new prompts, ${gradientRollouts} + ${r.spent} rollouts; best ${best.id} ${bs.mean.toFixed(3)} [${bs.lo.toFixed(3)}, ${bs.hi.toFixed(3)}]` +
            (r.separated ? " (new leader)" : " (incumbent kept)"),
        );
        await o.onRound?.(row);
      }

      const last = rounds.at(-1)!;
      const firstRow = rounds[0];
      const summary = (id: string, row: ApoRoundRow) => ({
        id,
        template: candidates.get(id)!.template.template,
        mean: row.bestMean,
        lo: row.bestLo,
        hi: row.bestHi,
        n: row.bestN,
      });
      return {
        runId,
        best: summary(last.best, last),
        first: summary(firstRow.best, firstRow),
        rounds,
        spent,
        bestResourcesId,
        logRolloutId: log.rolloutId,
        resumedAfterRound: previous?.rounds.length ? previous.rounds.at(-1)!.round : null,
      };
    } catch (e) {
      error = e;
      throw e;
    } finally {
      await log.close(error).catch(() => {});
    }
  }

  private async reflectiveRounds(k: {
    ctx: AlgorithmContext;
    log: AlgorithmLog;
    runId: string;
    optimizer: Optimizer;
    candidates: Map<string, ApoCandidate>;
    addCandidate: (c: Omit<ApoCandidate, "resourcesId">, origin: string) => Promise<ApoCandidate>;
    rounds: ApoRoundRow[];
    spent: number;
    startRound: number;
    valTasks: readonly unknown[];
    trainTasks: readonly unknown[];
    paretoIdx: number[];
    pool: ParetoEntry[];
    bestResourcesId: string;
    base: NamedResources;
  }): Promise<number> {
    const o = this.o;
    const { ctx, log, runId, candidates, pool } = k;
    let spent = k.spent;
    for (let round = k.startRound; round <= o.rounds; round++) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
      const front = paretoFront(pool);
      const parent = candidates.get(sampleParent(front, o.seed * 7_919 + round))!;
      const idx = shuffled(
        k.trainTasks.map((_, i) => i),
        o.seed * 1_000_003 + round * 101,
      ).slice(0, Math.min(o.gradientBatchSize, k.trainTasks.length));
      const inputs = idx.map((t) => k.trainTasks[t]);
      const parentEx = await this.gradientRollouts(ctx, inputs, parent, {
        algorithm: "apo",
        runId,
        round,
        phase: "gradient",
        candidate: parent.id,
      });
      let gradientRollouts = parentEx.length;
      let valRollouts = 0;
      // Reflection: the same critique-then-edit calls as the beam, on the parent's traces, one child.
      const sorted = [...parentEx].sort((a, b) => a.reward - b.reward);
      const critique = await k.optimizer.complete(
        log.scope,
        critiqueMessages(parent.template, sorted, o.rewardRange),
        o.seed + round * 7919,
        ctx.signal,
      );
      await log.record(APO_SPANS.critique, {
        runId,
        round,
        parentId: parent.id,
        critique,
        error: null,
        rewards: sorted.map((x) => x.reward),
      });
      const reply = await k.optimizer.complete(
        log.scope,
        editMessages(parent.template, critique, 1, 1),
        o.seed + round * 7919 + 1,
        ctx.signal,
      );
      const text = parseEdit(reply);
      const dup = [...candidates.values()].find((c) => c.template.template === text && pool.some((p) => p.id === c.id));
      let rejected = rejectEdit(parent.template, text, o.maxPromptChars) ?? (dup ? `same prompt as ${dup.id}` : null);
      let child: ApoCandidate | null = null;
      if (!rejected) {
        child = await k.addCandidate(
          { id: `r${round}c1`, template: { ...parent.template, template: text }, parentId: parent.id, round },
          "reflection",
        );
        const childEx = await this.gradientRollouts(ctx, inputs, child, {
          algorithm: "apo",
          runId,
          round,
          phase: "minibatch",
          candidate: child.id,
        });
        gradientRollouts += childEx.length;
        const sum = (xs: { reward: number }[]) => xs.reduce((s, x) => s + x.reward, 0);
        // GEPA's gate: only a child that does better than its parent on the same tasks earns a full evaluation.
        if (sum(childEx) <= sum(parentEx))
          rejected = `no gain over ${parent.id} on the training minibatch (${sum(childEx)} vs ${sum(parentEx)})`;
      }
      await log.record(APO_SPANS.edit, {
        runId,
        round,
        parentId: parent.id,
        variant: 1,
        candidate: child?.id ?? null,
        template: text,
        rejected,
      });
      if (child && !rejected) {
        const scores = await rolloutRewards(
          ctx,
          k.paretoIdx.map((t) => ({
            resourcesId: child!.resourcesId,
            input: k.valTasks[t],
            metadata: { algorithm: "apo", runId, round, phase: "val", candidate: child!.id },
          })),
          o.rewardRange[0],
        );
        valRollouts = scores.length;
        pool.push({ id: child.id, scores });
      }
      const newFront = paretoFront(pool);
      const pick = reflectiveBest(pool, k.rounds.at(-1)!.best, { confidence: o.confidence, range: o.rewardRange, rounds: o.rounds });
      for (const p of pool)
        if (p.id === child?.id || round === k.startRound) {
          const s = scoreInterval(p.scores, { confidence: o.confidence, range: o.rewardRange });
          await log.record(APO_SPANS.score, {
            runId,
            round,
            candidate: p.id,
            n: s.n,
            mean: s.mean,
            lo: s.lo,
            hi: s.hi,
            eliminatedInRound: null,
            inBeam: newFront.some((f) => f.id === p.id),
            taskScores: p.scores,
          });
        }
      spent += gradientRollouts + valRollouts;
      const best = candidates.get(pick.id)!;
      const row = await this.finishRound(
        ctx.store,
        log,
        runId,
        round,
        newFront.map((f) => f.id),
        best,
        pick.interval,
        pick.separated,
        spent,
        gradientRollouts,
        valRollouts,
        k.bestResourcesId,
        k.base,
      );
      k.rounds.push(row);
      ctx.log(
        `apo (reflective) round ${round}: parent ${parent.id}, ${rejected ? `child rejected: ${rejected}` : `child ${child!.id} joins the pool`}; front ${newFront.length}, best ${best.id} ${pick.interval.mean.toFixed(3)}`,
      );
      await o.onRound?.(row);
    }
    return spent;
  }

  private async gradientRollouts(
    ctx: AlgorithmContext,
    inputs: unknown[],
    parent: ApoCandidate,
    metadata: Record<string, unknown>,
  ): Promise<RolloutExample[]> {
    const rollouts = await ctx.store.enqueueManyRollouts(
      inputs.map((input) => ({ input, mode: "train" as const, resourcesId: parent.resourcesId, config: ctx.rolloutConfig, metadata })),
    );
    const done = new Map(
      (
        await waitAll(
          ctx.store,
          rollouts.map((r) => r.rolloutId),
          ctx.signal,
        )
      ).map((r) => [r.rolloutId, r]),
    );
    const out: RolloutExample[] = [];
    for (const r of rollouts) {
      const d = done.get(r.rolloutId)!;
      const spans = await ctx.store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
      const reward = d.status === "succeeded" ? (finalReward(spans) ?? this.o.rewardRange[0]) : this.o.rewardRange[0];
      const trace = traceText(spans) + (d.status === "succeeded" ? "" : `\n(the rollout ${d.status})`);
      out.push({ task: r.input, reward, trace });
    }
    return out;
  }

  private async finishRound(
    store: LightningStore,
    log: AlgorithmLog,
    runId: string,
    round: number,
    beam: string[],
    best: ApoCandidate,
    s: { n: number; mean: number; lo: number; hi: number },
    separated: boolean,
    spent: number,
    gradientRollouts: number,
    valRollouts: number,
    bestResourcesId: string,
    base: NamedResources,
  ): Promise<ApoRoundRow> {
    const resources = { ...base, [this.o.resourceName]: best.template };
    const existing = await store.getResourcesById(bestResourcesId);
    const version = existing
      ? (await store.updateResources(bestResourcesId, resources)).version
      : (await store.addResources(resources, bestResourcesId)).version;
    const row: ApoRoundRow = {
      runId,
      mode: this.o.reflective ? "reflective" : "beam",
      round,
      beam,
      best: best.id,
      bestTemplate: best.template.template,
      bestMean: s.mean,
      bestLo: s.lo,
      bestHi: s.hi,
      bestN: s.n,
      separated,
      spent,
      gradientRollouts,
      valRollouts,
      bestVersion: version,
    };
    await log.record(APO_SPANS.round, { ...row });
    return row;
  }
}

function fromRow(c: ApoCandidateRow): ApoCandidate {
  return {
    id: c.id,
    template: { resourceType: "prompt_template", template: c.template, engine: c.engine === "mustache" ? "mustache" : "f-string" },
    resourcesId: c.resourcesId,
    parentId: c.parentId,
    round: c.round,
  };
}

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** `agl.algorithms.apo({...})`; `agl.algorithms.apo.history(store)` reads a run back as rows. */
export function apo(options: ApoOptions): ApoAlgorithm {
  return new ApoAlgorithm(options);
}

// The baseline algorithm: run every task once (train then val) and report
// rewards. What `trainer.dev` uses, and the template for real algorithms.
import type { Rollout } from "../types/index.js";
import type { LightningStore } from "../store/lightning-store.js";
import { finalReward } from "../adapter/rewards.js";
import type { Algorithm, AlgorithmContext } from "./algorithm.js";

export interface SplitSummary {
  rollouts: number;
  succeeded: number;
  failed: number;
  meanReward: number | null;
}

export interface BaselineResult {
  rollouts: Rollout[];
  rewards: Record<string, number | null>;
  train: SplitSummary;
  val: SplitSummary;
}

export async function rewardsOf(store: LightningStore, rollouts: readonly Rollout[]): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const r of rollouts) out[r.rolloutId] = finalReward(await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" }));
  return out;
}

export function summarize(rollouts: readonly Rollout[], rewards: Record<string, number | null>): SplitSummary {
  const vals = rollouts.map((r) => rewards[r.rolloutId]).filter((v): v is number => typeof v === "number");
  return {
    rollouts: rollouts.length,
    succeeded: rollouts.filter((r) => r.status === "succeeded").length,
    failed: rollouts.filter((r) => r.status === "failed").length,
    meanReward: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null,
  };
}

export class BaselineAlgorithm implements Algorithm<BaselineResult> {
  readonly name = "baseline";

  async run(ctx: AlgorithmContext): Promise<BaselineResult> {
    const { store } = ctx;
    const enq = async (tasks: readonly unknown[], mode: "train" | "val") =>
      store.enqueueManyRollouts(tasks.map((input) => ({ input, mode, config: ctx.rolloutConfig })));
    const train = await enq(ctx.train, "train");
    const val = await enq(ctx.val, "val");
    const ids = [...train, ...val].map((r) => r.rolloutId);
    const done = await waitAll(store, ids, ctx.signal);
    const byId = new Map(done.map((r) => [r.rolloutId, r]));
    const rewards = await rewardsOf(store, done);
    const pick = (rs: Rollout[]) => rs.map((r) => byId.get(r.rolloutId) ?? r);
    ctx.log(`baseline: ${done.length}/${ids.length} rollouts finished`);
    return { rollouts: done, rewards, train: summarize(pick(train), rewards), val: summarize(pick(val), rewards) };
  }
}

/** Waits for every id, in slices so an abort is noticed promptly. */
export async function waitAll(store: LightningStore, ids: string[], signal: AbortSignal): Promise<Rollout[]> {
  for (;;) {
    const done = await store.waitForRollouts(ids, { timeoutMs: 250 });
    if (done.length === ids.length) return done;
    if (signal.aborted) throw signal.reason ?? new Error("aborted");
  }
}

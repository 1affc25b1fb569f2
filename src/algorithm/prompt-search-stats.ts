// How sure we are that one prompt scores better than another. Rewards are
// bounded (graders give 0/1 or a fraction), so the intervals are Wilson score
// intervals on the rescaled mean: they never collapse to zero width after a
// few equal rewards, which is exactly when a t-interval would crown noise.
import { probit } from "simple-statistics";
import { ValidationError } from "../types/errors.js";

export interface ScoreInterval {
  n: number;
  mean: number;
  lo: number;
  hi: number;
}

/** Normal quantile for a two-sided interval at `confidence`, split over `comparisons` (Bonferroni). */
export function zFor(confidence: number, comparisons = 1): number {
  if (!(confidence > 0 && confidence < 1)) throw new ValidationError("zFor", [`confidence must be in (0, 1), got ${confidence}`]);
  const alpha = (1 - confidence) / Math.max(1, comparisons);
  return probit(1 - alpha / 2);
}

/** Wilson interval of a proportion-like mean `p` of n draws in [0, 1]. */
function wilson(p: number, n: number, z: number): [number, number] {
  if (n === 0) return [0, 1];
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt(Math.max(0, p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/**
 * Mean and interval of rewards that lie in `range`. For 0/1 rewards this is
 * the Wilson score interval; for other bounded rewards it uses the largest
 * variance a variable with that mean can have, so it is conservative.
 */
export function scoreInterval(
  values: readonly number[],
  opts: { confidence?: number; range?: readonly [number, number]; comparisons?: number } = {},
): ScoreInterval {
  const [lo, hi] = opts.range ?? [0, 1];
  if (!(hi > lo)) throw new ValidationError("scoreInterval", [`range must be [lo, hi] with hi > lo, got [${lo}, ${hi}]`]);
  for (const v of values)
    if (!Number.isFinite(v) || v < lo || v > hi)
      throw new ValidationError("scoreInterval", [
        `reward ${v} is outside the reward range [${lo}, ${hi}]; set rewardRange to the grader's bounds`,
      ]);
  const n = values.length;
  if (n === 0) return { n, mean: NaN, lo, hi };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const [a, b] = wilson((mean - lo) / (hi - lo), n, zFor(opts.confidence ?? 0.95, opts.comparisons));
  return { n, mean, lo: lo + a * (hi - lo), hi: lo + b * (hi - lo) };
}

export interface PairedComparison {
  /** Tasks both prompts ran on. */
  n: number;
  /** Tasks where A scored higher, lower. Ties carry no evidence either way. */
  wins: number;
  losses: number;
  /** Mean of A - B over the shared tasks. */
  meanDiff: number;
  /** Interval of the share of decisive tasks A wins; A is better when lo > 0.5, worse when hi < 0.5. */
  winShare: { lo: number; hi: number };
  /** +1: A better, -1: B better, 0: not decided at this confidence. */
  verdict: -1 | 0 | 1;
}

/**
 * Compares two prompts on the same tasks (a[i] and b[i] are the rewards of
 * task i): a sign test on the tasks where they differ, with a Wilson interval
 * on the share A wins. Pairing removes the task-difficulty noise that two
 * separate means would carry; ignoring ties keeps many equal rewards from
 * masking a consistent difference.
 */
export function comparePaired(
  a: readonly number[],
  b: readonly number[],
  opts: { confidence?: number; comparisons?: number } = {},
): PairedComparison {
  if (a.length !== b.length)
    throw new ValidationError("comparePaired", [`a and b must hold rewards of the same tasks (lengths ${a.length} and ${b.length})`]);
  let wins = 0;
  let losses = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d;
    if (d > 0) wins++;
    else if (d < 0) losses++;
  }
  const decisive = wins + losses;
  const [lo, hi] = wilson(decisive ? wins / decisive : 0.5, decisive, zFor(opts.confidence ?? 0.95, opts.comparisons));
  const verdict = decisive && lo > 0.5 ? 1 : decisive && hi < 0.5 ? -1 : 0;
  return { n: a.length, wins, losses, meanDiff: a.length ? sum / a.length : 0, winShare: { lo, hi }, verdict };
}

// Successive halving over prompts with a protected incumbent. Every surviving
// candidate runs on the same tasks each round (so comparisons are paired),
// the weaker half by mean stops getting rollouts, and the race stops early
// once the leader is decisively better than everyone left. A challenger
// replaces the incumbent only when the paired test says so: noise that
// happens to favour a challenger is not enough.
import { ValidationError } from "../types/errors.js";
import { comparePaired, scoreInterval, type PairedComparison, type ScoreInterval } from "./prompt-search-stats.js";
import { shuffled } from "./policy-loop.js";

export interface RaceOptions {
  /** Number of candidates (indices 0..candidates-1). */
  candidates: number;
  /** Distinct tasks to draw from; the order is a seeded shuffle, reshuffled per pass when the budget exceeds them. */
  taskCount: number;
  /** Most rollouts in all. */
  budget: number;
  seed: number;
  /** The candidate to beat (never eliminated, kept unless beaten decisively); null: no reference. */
  incumbent: number | null;
  confidence: number;
  rewardRange: readonly [number, number];
}

export interface RaceCandidate extends ScoreInterval {
  index: number;
  /** Round after which it got no more rollouts (null: ran to the end). */
  eliminatedInRound: number | null;
  rewards: number[];
  /** Task index of each reward (the same sequence for every candidate, truncated where it stopped). */
  tasks: number[];
}

export interface RaceRound {
  round: number;
  survivors: number[];
  perCandidate: number;
  spent: number;
}

export interface RaceResult {
  candidates: RaceCandidate[];
  /** Highest mean among those that ran to the end. */
  best: number;
  /** `best` when it beat the incumbent (or, without one, every other candidate) decisively; else the incumbent (or null). */
  winner: number | null;
  separated: boolean;
  /** Paired comparisons of `best` against each other candidate, on the tasks they share. */
  comparisons: (PairedComparison & { against: number })[];
  spent: number;
  rounds: RaceRound[];
}

/** Runs `candidates` on `tasks` (task indices) and returns rewards[candidate][task], in the order given. */
export type Evaluate = (candidates: number[], tasks: number[], round: number) => Promise<number[][]>;

export async function race(o: RaceOptions, evaluate: Evaluate): Promise<RaceResult> {
  const issues: string[] = [];
  if (!Number.isInteger(o.candidates) || o.candidates < 1) issues.push(`candidates must be a positive integer, got ${o.candidates}`);
  if (!Number.isInteger(o.taskCount) || o.taskCount < 1) issues.push(`there must be at least one task, got ${o.taskCount}`);
  if (!Number.isInteger(o.budget) || o.budget < o.candidates)
    issues.push(`budget must be an integer of at least one rollout per candidate (${o.candidates}), got ${o.budget}`);
  if (o.incumbent !== null && !(Number.isInteger(o.incumbent) && o.incumbent >= 0 && o.incumbent < o.candidates))
    issues.push(`incumbent must be a candidate index or null, got ${o.incumbent}`);
  if (issues.length) throw new ValidationError("promptSearch", issues);

  const passes = new Map<number, number[]>();
  const order = (k: number) => {
    const pass = Math.floor(k / o.taskCount);
    if (!passes.has(pass))
      passes.set(
        pass,
        shuffled(
          Array.from({ length: o.taskCount }, (_, i) => i),
          o.seed * 7919 + pass,
        ),
      );
    return passes.get(pass)![k % o.taskCount];
  };
  const cands: RaceCandidate[] = Array.from({ length: o.candidates }, (_, index) => ({
    index,
    n: 0,
    mean: NaN,
    lo: o.rewardRange[0],
    hi: o.rewardRange[1],
    eliminatedInRound: null,
    rewards: [],
    tasks: [],
  }));
  const interval = (c: RaceCandidate) => Object.assign(c, scoreInterval(c.rewards, { confidence: o.confidence, range: o.rewardRange }));
  let alive = cands.map((c) => c.index);
  let cursor = 0;
  let spent = 0;
  const rounds: RaceRound[] = [];
  // The plan: halve until two (plus the incumbent) are left, then fight the duel in two halves:
  // ceil(log2 K) + 1 looks at the data, a hard cap on the rounds. Bonferroni over the comparisons the leader must win and over
  // every look, so neither picking the best of many nor peeking after each round inflates the rate of
  // false wins above 1 - confidence.
  const looks = Math.ceil(Math.log2(Math.max(2, o.candidates))) + 1;
  const comparisons = Math.max(1, o.candidates - 1) * looks;
  const cmp = (a: RaceCandidate, b: RaceCandidate) => {
    const m = Math.min(a.rewards.length, b.rewards.length);
    return comparePaired(a.rewards.slice(0, m), b.rewards.slice(0, m), { confidence: o.confidence, comparisons });
  };

  for (let round = 0; alive.length > 1 && round < looks; round++) {
    const left = o.budget - spent;
    // A small budget still tries every candidate once before anything is judged.
    const per = Math.max(round === 0 && left >= alive.length ? 1 : 0, Math.floor(left / (alive.length * (looks - round))));
    if (per < 1) break;
    const tasks = Array.from({ length: per }, (_, i) => order(cursor + i));
    const rewards = await evaluate(alive, tasks, round);
    alive.forEach((ci, j) => {
      const rs = rewards[j];
      if (!Array.isArray(rs) || rs.length !== tasks.length)
        throw new Error(`promptSearch: evaluation returned ${rs?.length} rewards for ${tasks.length} tasks`);
      cands[ci].rewards.push(...rs);
      cands[ci].tasks.push(...tasks);
      interval(cands[ci]);
    });
    cursor += per;
    spent += per * alive.length;
    rounds.push({ round, survivors: [...alive], perCandidate: per, spent });

    const ranked = [...alive].sort((x, y) => cands[y].mean - cands[x].mean || x - y);
    const leader = cands[ranked[0]];
    // Early stop: the leader already beats everyone left, so more rollouts would not change the verdict.
    if (ranked.slice(1).every((i) => cmp(leader, cands[i]).verdict === 1)) break;
    // Halve, but keep two (a duel needs both sides) and always the incumbent: beside the top half while
    // that still shrinks the field (so a strong second is not dropped for it), else in the last place.
    const keep = ranked.slice(0, Math.max(2, Math.ceil(ranked.length / 2)));
    if (o.incumbent !== null && !keep.includes(o.incumbent)) {
      if (keep.length + 1 < ranked.length) keep.push(o.incumbent);
      else keep[keep.length - 1] = o.incumbent;
    }
    for (const i of alive) if (!keep.includes(i)) cands[i].eliminatedInRound = round;
    alive = keep;
  }

  const finalists = alive.map((i) => cands[i]).filter((c) => c.n > 0);
  const best = [...finalists].sort((x, y) => y.mean - x.mean || x.index - y.index)[0]?.index ?? o.incumbent ?? 0;
  const others = cands.filter((c) => c.index !== best && c.n > 0);
  const vs = others.map((c) => ({ ...cmp(cands[best], c), against: c.index }));
  let separated: boolean;
  if (o.incumbent !== null) separated = best !== o.incumbent && vs.find((v) => v.against === o.incumbent)?.verdict === 1;
  else separated = vs.length > 0 && vs.every((v) => v.verdict === 1);
  const winner = separated ? best : o.incumbent;
  return { candidates: cands, best, winner, separated, comparisons: vs, spent, rounds };
}

// APO's reflective variant, in the style of GEPA: a pool of prompts scored
// task by task on a fixed validation set; the parent of each mutation is
// drawn from the Pareto front (prompts that are best on at least one task),
// weighted by how many tasks each wins, so a prompt that is the only one to
// solve some task keeps a chance to be improved. The mutation is a
// reflection on the parent's traces on a few training tasks; the child joins
// the pool only when it beats its parent on those same tasks.
import { createHash } from "node:crypto";
import { comparePaired, scoreInterval } from "./prompt-search-stats.js";

export interface ParetoEntry {
  id: string;
  /** Reward on each task of the Pareto set, in the set's order. */
  scores: number[];
}

/**
 * The Pareto front of `pool`: the prompts not dominated by another (at least
 * as good on every task and better on one), each with the number of tasks on
 * which it reaches the best score. Tasks every prompt scores alike say
 * nothing and are not counted. Ties keep the earlier prompt.
 */
export function paretoFront(pool: readonly ParetoEntry[]): { id: string; wins: number }[] {
  if (!pool.length) return [];
  const n = pool[0].scores.length;
  for (const p of pool)
    if (p.scores.length !== n) throw new Error(`paretoFront: ${p.id} has ${p.scores.length} task scores, expected ${n}`);
  const dominated = (a: ParetoEntry, b: ParetoEntry) =>
    b.scores.every((s, t) => s >= a.scores[t]) && b.scores.some((s, t) => s > a.scores[t]);
  const seen = new Set<string>();
  const front = pool.filter((a) => {
    const key = a.scores.join(",");
    if (seen.has(key)) return false; // an equal-scoring earlier prompt stands for it
    seen.add(key);
    return !pool.some((b) => b !== a && dominated(a, b));
  });
  const wins = new Map(front.map((p) => [p.id, 0]));
  for (let t = 0; t < n; t++) {
    const col = pool.map((p) => p.scores[t]);
    const max = Math.max(...col);
    if (max === Math.min(...col)) continue;
    for (const p of front) if (p.scores[t] === max) wins.set(p.id, wins.get(p.id)! + 1);
  }
  return front.map((p) => ({ id: p.id, wins: wins.get(p.id)! }));
}

/** Draws a parent from the front, weighted by wins (uniformly when nobody wins anything). Seeded. */
export function sampleParent(front: readonly { id: string; wins: number }[], seed: number): string {
  if (!front.length) throw new Error("sampleParent: the front is empty");
  const total = front.reduce((s, f) => s + f.wins, 0);
  const u = createHash("sha256").update(`parent:${seed}`).digest().readUInt32BE(0) / 2 ** 32;
  if (total === 0) return front[Math.floor(u * front.length)].id;
  let acc = 0;
  for (const f of front) {
    acc += f.wins / total;
    if (u < acc) return f.id;
  }
  return front[front.length - 1].id;
}

/**
 * The prompt to report as best: the pool's highest mean, but only when it beats the incumbent
 * decisively on the same tasks (Bonferroni over the pool and the rounds); otherwise the incumbent.
 */
export function reflectiveBest(
  pool: readonly ParetoEntry[],
  incumbent: string,
  opts: { confidence: number; range: readonly [number, number]; rounds: number },
): { id: string; separated: boolean; interval: ReturnType<typeof scoreInterval> } {
  const byId = new Map(pool.map((p) => [p.id, p]));
  const inc = byId.get(incumbent);
  if (!inc) throw new Error(`reflectiveBest: incumbent ${incumbent} is not in the pool`);
  const mean = (p: ParetoEntry) => p.scores.reduce((a, b) => a + b, 0) / Math.max(1, p.scores.length);
  const top = [...pool].sort((a, b) => mean(b) - mean(a))[0];
  const comparisons = Math.max(1, pool.length - 1) * Math.max(1, opts.rounds);
  const separated = top.id !== inc.id && comparePaired(top.scores, inc.scores, { confidence: opts.confidence, comparisons }).verdict === 1;
  const best = separated ? top : inc;
  return { id: best.id, separated, interval: scoreInterval(best.scores, { confidence: opts.confidence, range: opts.range }) };
}

// Group-relative advantages for episodes with several LLM calls, each call
// carrying its own credit (src/adapter/credit.ts). Two ways to form the
// baseline, both within the task's group of rollouts:
//
// - "episode" (default): every call is compared with the group's episodes.
//   An episode's value is the mean credit of its calls; the baseline is the
//   mean of those values and the scale their (unbiased) std, so
//   A = (credit - mean) / (std + eps). Under "final" credit every call's
//   credit is its episode's reward and this is GRPO on rollout rewards
//   exactly, however many calls each episode made (a long episode does not
//   weigh more in the baseline).
// - "position": call k of an episode is compared only with call k of the
//   group's other episodes (GRPO per turn): A = groupAdvantages over the
//   credits of the group's k-th calls. Episodes that ended before turn k do
//   not take part at k; a turn only one episode reached gets advantage 0.
//
// Both use the trainer's definitions (native/src/grpo.h): eps 1e-4, RLOO is
// "minus the mean of the others", normalizeStd false is Dr. GRPO.
import { groupAdvantages, type AdvantageOptions } from "../native/advantages.js";

export type AdvantageBaseline = "episode" | "position";

export interface EpisodeCredit {
  /** The task group the episode belongs to. */
  group: number;
  /** One credit per call, in call order. */
  credit: readonly number[];
}

export function turnAdvantages(episodes: readonly EpisodeCredit[], baseline: AdvantageBaseline, opts: AdvantageOptions = {}): number[][] {
  if (baseline === "position") return byPosition(episodes, opts);
  if (baseline === "episode") return byEpisode(episodes, opts);
  throw new TypeError(`turnAdvantages: baseline must be "episode" or "position", got ${JSON.stringify(baseline)}`);
}

function byPosition(episodes: readonly EpisodeCredit[], opts: AdvantageOptions): number[][] {
  const ids = new Map<string, number>();
  const rewards: number[] = [];
  const groups: number[] = [];
  for (const e of episodes)
    e.credit.forEach((c, k) => {
      const key = `${e.group}:${k}`;
      if (!ids.has(key)) ids.set(key, ids.size);
      rewards.push(c);
      groups.push(ids.get(key)!);
    });
  const flat = rewards.length ? groupAdvantages(rewards, groups, opts) : [];
  let at = 0;
  return episodes.map((e) => e.credit.map(() => flat[at++]));
}

function byEpisode(episodes: readonly EpisodeCredit[], opts: AdvantageOptions): number[][] {
  const eps = opts.epsilon ?? 1e-4;
  const members = new Map<number, number[]>();
  const value = episodes.map((e) => (e.credit.length ? e.credit.reduce((a, b) => a + b, 0) / e.credit.length : NaN));
  episodes.forEach((e, i) => {
    if (!e.credit.length) return;
    if (!members.has(e.group)) members.set(e.group, []);
    members.get(e.group)!.push(i);
  });
  const out = episodes.map((e) => e.credit.map(() => 0));
  for (const idx of members.values()) {
    const n = idx.length;
    const sum = idx.reduce((a, i) => a + value[i], 0);
    const mean = sum / n;
    const sd = n > 1 ? Math.sqrt(idx.reduce((a, i) => a + (value[i] - mean) ** 2, 0) / (n - 1)) : 0;
    for (const i of idx)
      out[i] = episodes[i].credit.map((c) => {
        if (opts.estimator === "rloo") return n > 1 ? c - (sum - value[i]) / (n - 1) : 0;
        return opts.normalizeStd === false ? c - mean : (c - mean) / (sd + eps);
      });
  }
  return out;
}

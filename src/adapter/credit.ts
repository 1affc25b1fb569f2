// Credit assignment: which number each LLM call of an episode is trained
// towards. Agent Lightning gives every call the rollout's final reward; a
// tool loop or a multi-agent episode often wants per-turn credit instead
// (its issues #31, #282, #390), so the rule is selectable.
import { ValidationError } from "../types/errors.js";

/** A reward span of the episode, placed among the calls by sequence id. */
export interface RewardEvent {
  value: number;
  sequenceId: number;
  /** Index of the last call that ended before this reward; -1 when it came before any call. */
  afterCall: number;
}

/** The slice of a call that credit rules read (a Triplet has it). */
export interface CreditCall {
  sequenceId: number;
}

/** Your own rule: one number per call, in call order. */
export type CreditFunction = (calls: readonly CreditCall[], rewards: readonly RewardEvent[]) => number[];

/**
 * - `final`: every call gets the episode's final reward (the last reward span), Agent Lightning's rule;
 *   null when the episode has no reward.
 * - `matched`: a call gets the last reward emitted after it and before the next call; null when none was.
 * - `discounted`: the return from the call on, G_i = r_i + gamma * G_{i+1}, where r_i is the call's
 *   matched reward (0 when none); a final reward alone reaches call i as gamma^(K-1-i) * R.
 * - a function `(calls, rewards) => number[]`.
 * Rewards emitted before the first call count only for `final` and for functions.
 */
export type CreditAssignment = "final" | "matched" | "discounted" | CreditFunction;

export const CREDIT_MODES = ["final", "matched", "discounted"] as const;

/** Places reward spans among the calls (both given in sequence order). */
export function rewardEvents(calls: readonly CreditCall[], rewards: readonly { value: number; sequenceId: number }[]): RewardEvent[] {
  const out: RewardEvent[] = [];
  let c = -1;
  for (const r of [...rewards].sort((a, b) => a.sequenceId - b.sequenceId)) {
    while (c + 1 < calls.length && calls[c + 1].sequenceId < r.sequenceId) c++;
    out.push({ value: r.value, sequenceId: r.sequenceId, afterCall: c });
  }
  return out;
}

/** The credit of each call under `mode`; `gamma` is for `discounted`. */
export function assignCredit(
  calls: readonly CreditCall[],
  rewards: readonly RewardEvent[],
  mode: CreditAssignment,
  gamma = 1,
): (number | null)[] {
  if (typeof mode === "function") {
    let out: unknown;
    try {
      out = mode(calls, rewards);
    } catch (e) {
      throw new ValidationError("credit function", [`threw: ${(e as Error)?.message ?? String(e)}`]);
    }
    if (!Array.isArray(out) || out.length !== calls.length)
      throw new ValidationError("credit function", [
        `must return number[${calls.length}] (one credit per call), got ${Array.isArray(out) ? `${out.length} values` : typeof out}`,
      ]);
    const bad = out.findIndex((x) => typeof x !== "number" || !Number.isFinite(x));
    if (bad >= 0) throw new ValidationError("credit function", [`credit[${bad}] must be a finite number, got ${String(out[bad])}`]);
    return out as number[];
  }
  if (mode === "final") {
    const last = rewards.length ? rewards[rewards.length - 1].value : null;
    return calls.map(() => last);
  }
  const matched: (number | null)[] = calls.map(() => null);
  // Later rewards for the same call overwrite earlier ones, as Agent Lightning's adapter does.
  for (const r of rewards) if (r.afterCall >= 0) matched[r.afterCall] = r.value;
  if (mode === "matched") return matched;
  if (mode === "discounted") {
    if (typeof gamma !== "number" || !(gamma >= 0 && gamma <= 1))
      throw new ValidationError("credit", [`gamma must be a number in [0, 1], got ${String(gamma)}`]);
    const out = new Array<number>(calls.length);
    let g = 0;
    for (let i = calls.length - 1; i >= 0; i--) out[i] = g = (matched[i] ?? 0) + gamma * g;
    return out;
  }
  throw new ValidationError("credit", [
    `rewardAssignment must be "final", "matched", "discounted" or a function, got ${JSON.stringify(mode)}`,
  ]);
}

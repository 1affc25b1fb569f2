// Group-relative advantages (GRPO z-scores or RLOO), computed by the same C++
// definition the trainer documents (native/src/grpo.h).
import { ValidationError } from "../types/errors.js";
import { loadAddon } from "./addon.js";

export interface AdvantageOptions {
  /** Divide by the group's (unbiased) reward std; default true (GRPO). Dr. GRPO turns it off. */
  normalizeStd?: boolean;
  /** Added to the std before dividing; default 1e-4 (TRL). */
  epsilon?: number;
  /** "grpo" (default): (r - mean) / (std + eps); "rloo": r - mean of the other group members. */
  estimator?: "grpo" | "rloo";
}

/** Advantages for `rewards`, where `groups[i]` names the group of sequence i. */
export function groupAdvantages(rewards: number[], groups: number[], opts: AdvantageOptions = {}): number[] {
  const where = "groupAdvantages";
  if (!Array.isArray(rewards) || rewards.some((r) => typeof r !== "number" || !Number.isFinite(r)))
    throw new ValidationError(where, ["rewards must be number[] (finite)"]);
  if (!Array.isArray(groups) || groups.length !== rewards.length || groups.some((g) => !Number.isInteger(g) || Math.abs(g) > 2 ** 31 - 1))
    throw new ValidationError(where, [`groups must be integer[${rewards.length}] (one group id per reward)`]);
  if (opts.estimator !== undefined && opts.estimator !== "grpo" && opts.estimator !== "rloo")
    throw new ValidationError(where, ['estimator must be "grpo" or "rloo"']);
  const out = loadAddon().groupAdvantages({
    rewards: Float64Array.from(rewards),
    groups: Int32Array.from(groups),
    normalizeStd: opts.normalizeStd ?? true,
    epsilon: opts.epsilon ?? 1e-4,
    rloo: opts.estimator === "rloo",
  });
  return Array.from(out);
}

/** Group ids for consecutive runs of `groupSize` sequences. */
export function consecutiveGroups(count: number, groupSize: number): number[] {
  if (!Number.isInteger(groupSize) || groupSize < 1 || count % groupSize !== 0)
    throw new ValidationError("groupSize", [`groupSize must be a positive integer dividing the ${count} sequences`]);
  return Array.from({ length: count }, (_, i) => Math.floor(i / groupSize));
}

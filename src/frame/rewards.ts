// Reward dimensions of a span, in every form Arclight writes them:
// emitReward's indexed `agentlightning.reward.<i>.name/value` (dimension 0
// primary), rescore's write-back (`agentlightning.reward.dimension` plus the
// JSON under `agentlightning.reward`, deliberately without an indexed
// primary so training never mistakes it for the rollout's reward), and a
// bare JSON number or map.

import { parseJsonText } from "../types/json.js";
import { AGL } from "../types/semconv.js";
import type { Attributes } from "../types/span.js";

export interface RewardEntry {
  dimension: string;
  value: number;
  primary: boolean;
}

/** Attribute a rescore write-back sets, so frames can tell derived rewards from the agent's own. */
export const RESCORED_ATTR = "arclight.reward.rescored";

export function rewardEntries(attrs: Attributes | null, promoted: number | null): RewardEntry[] {
  const out: RewardEntry[] = [];
  if (attrs) {
    for (let i = 0; ; i++) {
      const v = attrs[`agentlightning.reward.${i}.value`];
      if (typeof v !== "number") break;
      const n = attrs[`agentlightning.reward.${i}.name`];
      out.push({ dimension: typeof n === "string" ? n : String(i), value: v, primary: i === 0 });
    }
    if (out.length) return out;
    const raw = attrs[AGL.attrs.reward];
    const dim = attrs[AGL.attrs.rewardDimension];
    // Text that is not JSON stays a string, which is neither a number nor a map: no reward.
    const parsed = parseJsonText(raw);
    if (typeof parsed === "number" && Number.isFinite(parsed)) {
      out.push({ dimension: typeof dim === "string" ? dim : "primary", value: parsed, primary: typeof dim !== "string" });
    } else if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      const primaryDerived = typeof dim !== "string";
      Object.entries(parsed as Record<string, unknown>).forEach(([k, v], i) => {
        if (typeof v === "number" && Number.isFinite(v)) out.push({ dimension: k, value: v, primary: primaryDerived && i === 0 });
      });
    }
    if (out.length) return out;
  }
  if (promoted !== null) out.push({ dimension: "primary", value: promoted, primary: true });
  return out;
}

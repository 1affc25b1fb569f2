// Reading rewards back out of spans: Agent Lightning's reward attributes
// (`agentlightning.reward.<i>.name/value`, dimension 0 primary).
import { AGL, type Span } from "../types/index.js";

export interface RewardDimension {
  name: string;
  value: number;
}

export function isRewardSpan(span: Span): boolean {
  return span.name === AGL.spans.reward || typeof span.attributes[AGL.attrs.rewardPrimary] === "number";
}

/** Dimensions of a reward span, primary first; empty for other spans. */
export function rewardDimensions(span: Span): RewardDimension[] {
  const out: RewardDimension[] = [];
  for (let i = 0; ; i++) {
    const v = span.attributes[`agentlightning.reward.${i}.value`];
    if (typeof v !== "number") break;
    const n = span.attributes[`agentlightning.reward.${i}.name`];
    out.push({ name: typeof n === "string" ? n : String(i), value: v });
  }
  return out;
}

/** Primary value of a reward span, or null when the span is not a reward. */
export function primaryReward(span: Span): number | null {
  const v = span.attributes[AGL.attrs.rewardPrimary];
  return typeof v === "number" ? v : null;
}

/** The rollout's reward: the primary value of its last reward span (by sequence id), or null. */
export function finalReward(spans: readonly Span[]): number | null {
  let best: Span | null = null;
  for (const s of spans) if (primaryReward(s) !== null && (!best || s.sequenceId > best.sequenceId)) best = s;
  return best ? primaryReward(best) : null;
}

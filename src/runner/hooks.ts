import type { AttemptedRollout, Rollout } from "../types/index.js";
import type { RolloutContext } from "./agent.js";

/** Callbacks around each rollout; a throwing hook is reported, never fatal to the runner. */
export interface Hooks {
  onRolloutStart?(rollout: AttemptedRollout): void | Promise<void>;
  onTraceStart?(ctx: RolloutContext): void | Promise<void>;
  onTraceEnd?(ctx: RolloutContext, outcome: { error: unknown | null }): void | Promise<void>;
  onRolloutEnd?(rollout: Rollout | null, outcome: { error: unknown | null; reward: number | null }): void | Promise<void>;
}

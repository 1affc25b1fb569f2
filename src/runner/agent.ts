// agl.rollout: an agent is an async function of (task, ctx) that may return
// its reward. Nothing else about the agent's code has to change.
import type { Attempt, LLMResource, NamedResources, Rollout } from "../types/index.js";
import type { LightningStore } from "../store/lightning-store.js";
import type { RewardValue } from "../tracer/index.js";

export interface RolloutContext {
  rollout: Rollout;
  attempt: Attempt;
  /** The resources this rollout runs with (its resourcesId, else the latest). */
  resources: NamedResources;
  /** The first LLM resource, the usual thing an agent needs. */
  llm: LLMResource | null;
  store: LightningStore;
  workerId: string;
  /** Aborted when the attempt is timed out, cancelled or the runner stops. */
  signal: AbortSignal;
}

export type AgentFn<T = unknown> = (
  task: T,
  ctx: RolloutContext,
) => Promise<RewardValue | void | null | undefined> | RewardValue | void | null | undefined;

export interface Agent<T = unknown> {
  readonly name: string;
  run: AgentFn<T>;
}

export interface RolloutOptions {
  /** Agent name attached to its spans (adapters can select agents by it). */
  name?: string;
}

export function rollout<T = unknown>(fn: AgentFn<T>, opts: RolloutOptions = {}): Agent<T> {
  if (typeof fn !== "function") throw new TypeError("rollout(fn): fn must be an async function (task, ctx) => reward");
  const name = opts.name ?? (fn.name || "agent");
  return { name, run: fn };
}

export function isAgent(x: unknown): x is Agent {
  return !!x && typeof x === "object" && typeof (x as Agent).run === "function" && typeof (x as Agent).name === "string";
}

// Status state machines of Agent Lightning v0.3, kept as data so the store,
// the docs and the tests all read the same table.

export const ROLLOUT_STATUSES = ["queuing", "preparing", "running", "requeuing", "succeeded", "failed", "cancelled"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

export const ATTEMPT_STATUSES = ["preparing", "running", "succeeded", "failed", "timeout", "unresponsive"] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

export const TERMINAL_ROLLOUT_STATUSES: readonly RolloutStatus[] = ["succeeded", "failed", "cancelled"];
export const TERMINAL_ATTEMPT_STATUSES: readonly AttemptStatus[] = ["succeeded", "failed", "timeout"];

/** Allowed rollout moves. A rollout waits in `requeuing` after a failed attempt while retries remain. */
export const ROLLOUT_TRANSITIONS: Readonly<Record<RolloutStatus, readonly RolloutStatus[]>> = {
  queuing: ["preparing", "cancelled", "failed"],
  preparing: ["running", "succeeded", "failed", "requeuing", "cancelled"],
  running: ["succeeded", "failed", "requeuing", "cancelled"],
  requeuing: ["preparing", "failed", "cancelled"],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/**
 * Allowed attempt moves. An unresponsive attempt that speaks again (a span or
 * a heartbeat) is running again, as in Agent Lightning; timeout is final.
 */
export const ATTEMPT_TRANSITIONS: Readonly<Record<AttemptStatus, readonly AttemptStatus[]>> = {
  preparing: ["running", "succeeded", "failed", "timeout", "unresponsive"],
  running: ["succeeded", "failed", "timeout", "unresponsive"],
  unresponsive: ["running", "succeeded", "failed", "timeout"],
  succeeded: [],
  failed: [],
  timeout: [],
};

export class InvalidTransitionError extends Error {
  override readonly name = "InvalidTransitionError";
  constructor(
    readonly kind: "rollout" | "attempt",
    readonly id: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`invalid ${kind} transition for ${id}: ${from} -> ${to}`);
  }
}

export function isRolloutTerminal(s: RolloutStatus): boolean {
  return TERMINAL_ROLLOUT_STATUSES.includes(s);
}

export function isAttemptTerminal(s: AttemptStatus): boolean {
  return TERMINAL_ATTEMPT_STATUSES.includes(s);
}

/** Throws InvalidTransitionError naming the rollout and both states. Same-state updates are allowed no-ops. */
export function checkRolloutTransition(rolloutId: string, from: RolloutStatus, to: RolloutStatus): void {
  if (from === to) return;
  if (!ROLLOUT_TRANSITIONS[from].includes(to)) throw new InvalidTransitionError("rollout", rolloutId, from, to);
}

export function checkAttemptTransition(attemptId: string, from: AttemptStatus, to: AttemptStatus): void {
  if (from === to) return;
  if (!ATTEMPT_TRANSITIONS[from].includes(to)) throw new InvalidTransitionError("attempt", attemptId, from, to);
}

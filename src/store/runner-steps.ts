// The two store steps a runner takes around each rollout, each a few store
// calls. Defined once here over any LightningStore: in-process stores run them
// as plain calls, and the store server runs them behind one endpoint each, so
// a remote rollout costs ~3 round trips (claim, spans, complete) instead of ~10.

import type { Attempt, AttemptedRollout, AttemptUpdate, ResourcesUpdate, Rollout } from "../types/index.js";
import { finalReward } from "../adapter/rewards.js";
import { InvalidTransitionError } from "../types/index.js";
import type { DequeueOptions, LightningStore } from "./lightning-store.js";

/** A dequeued rollout whose attempt the runner has started, and the resources it runs with. */
export interface ClaimedRollout {
  rollout: AttemptedRollout;
  /** The rollout's resources (its resourcesId, else the latest); null when there are none. */
  resources: ResourcesUpdate | null;
  /** Why the attempt could not be set running (the store ended it first); null when it runs. */
  startError: { name: string; message: string } | null;
  /** Why the resources could not be read (the agent then runs with none); absent when they were. */
  resourcesError?: { name: string; message: string } | null;
}

/** What completing an attempt left in the store. */
export interface CompletedAttempt {
  /** The attempt after the update; null when the store had already ended it (its verdict stands). */
  attempt: Attempt | null;
  rollout: Rollout | null;
  /** The attempt's reward (its last reward span's primary value), null when it has none. */
  reward: number | null;
}

/** Dequeues the oldest queued rollout for `workerId`, sets its attempt running and fetches its resources. */
export async function claimRolloutSteps(
  store: LightningStore,
  opts: DequeueOptions & { workerId: string },
): Promise<ClaimedRollout | null> {
  const rollout = await store.dequeueRollout(opts);
  return rollout ? startAttemptSteps(store, rollout, opts.workerId) : null;
}

/** Sets a dequeued attempt running for `workerId` and fetches the rollout's resources, together. */
export async function startAttemptSteps(store: LightningStore, rollout: AttemptedRollout, workerId: string): Promise<ClaimedRollout> {
  let resourcesError: ClaimedRollout["resourcesError"] = null;
  const [startError, resources] = await Promise.all([
    store.updateAttempt(rollout.rolloutId, rollout.attempt.attemptId, { status: "running", workerId }).then(() => null, errorInfo),
    // A rollout that cannot learn its resources still runs (its agent decides what that means); the runner reports why.
    (rollout.resourcesId ? store.getResourcesById(rollout.resourcesId) : store.getLatestResources()).catch((e: unknown) => {
      resourcesError = errorInfo(e);
      return null;
    }),
  ]);
  return { rollout, resources, startError, resourcesError };
}

/**
 * The final update when spans of the attempt could not be stored (a runner
 * fails such an attempt, as it does when its own flush fails): failed, with the
 * span error. An agent's own failure stands.
 */
export function spanFailureUpdate(update: AttemptUpdate, e: unknown): AttemptUpdate {
  if (update.status === "failed") return update;
  const { name, message } = errorInfo(e);
  return { ...update, status: "failed", metadata: { ...(update.metadata ?? {}), error: `${name}: ${message}` } };
}

function errorInfo(e: unknown): { name: string; message: string } {
  return { name: (e as Error)?.name ?? "Error", message: (e as Error)?.message ?? String(e) };
}

/**
 * Applies the attempt's final update, then reads back its rollout and reward.
 * An InvalidTransitionError (the store ended the attempt first: timeout,
 * unresponsive) is not an error here: `attempt` is null and the reads still run.
 */
export async function completeAttemptSteps(
  store: LightningStore,
  rolloutId: string,
  attemptId: string,
  update: AttemptUpdate,
): Promise<CompletedAttempt> {
  let attempt: Attempt | null = null;
  try {
    attempt = await store.updateAttempt(rolloutId, attemptId, update);
  } catch (e) {
    if (!(e instanceof InvalidTransitionError)) throw e;
  }
  const [rollout, reward] = await Promise.all([store.getRolloutById(rolloutId), attemptReward(store, rolloutId, attemptId)]);
  return { attempt, rollout, reward };
}

/** The store's noted reward when it keeps one, else the attempt's spans read back. */
export function attemptReward(store: LightningStore, rolloutId: string, attemptId: string): Promise<number | null> {
  return store.attemptReward ? store.attemptReward(rolloutId, attemptId) : rewardFromSpans(store, rolloutId, attemptId);
}

/** The attempt's reward read from its spans (stores that do not note it). */
export async function rewardFromSpans(store: LightningStore, rolloutId: string, attemptId: string): Promise<number | null> {
  return finalReward(await store.querySpans({ rolloutId, attemptId }));
}

/** Records a heartbeat for a running attempt and reads its rollout's latest attempt (the runner's watchdog: has the store ended it?). */
export async function heartbeatSteps(
  store: LightningStore,
  rolloutId: string,
  attemptId: string,
  workerId?: string,
): Promise<Attempt | null> {
  await (workerId === undefined ? store.heartbeat(rolloutId, attemptId) : store.heartbeat(rolloutId, attemptId, workerId));
  return store.getLatestAttempt(rolloutId);
}

export function heartbeat(store: LightningStore, rolloutId: string, attemptId: string, workerId?: string): Promise<Attempt | null> {
  return store.heartbeatAttempt
    ? store.heartbeatAttempt(rolloutId, attemptId, workerId)
    : heartbeatSteps(store, rolloutId, attemptId, workerId);
}

/** The store's own one-call version when it has one (a remote store), else the steps as plain calls. */
export function claimRollout(store: LightningStore, opts: DequeueOptions & { workerId: string }): Promise<ClaimedRollout | null> {
  return store.claimRollout ? store.claimRollout(opts) : claimRolloutSteps(store, opts);
}

export function completeAttempt(
  store: LightningStore,
  rolloutId: string,
  attemptId: string,
  update: AttemptUpdate,
): Promise<CompletedAttempt> {
  return store.completeAttempt
    ? store.completeAttempt(rolloutId, attemptId, update)
    : completeAttemptSteps(store, rolloutId, attemptId, update);
}

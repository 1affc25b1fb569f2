// The attempt state machine and how it drives rollouts. Only the latest
// attempt of a rollout drives the rollout's status; an older attempt that
// reports late changes only itself:
//   running -> rollout running; succeeded -> succeeded; failed, timeout or
//   unresponsive -> requeuing while the status is a retry condition and
//   attempts remain, else failed.
// Every move is checked against the transition tables in types/ and recorded
// in the mutation's ChangeSet.

import {
  isAttemptTerminal,
  isRolloutTerminal,
  type Attempt,
  type AttemptedRollout,
  type AttemptStatus,
  type RolloutStatus,
} from "../types/index.js";
import { checkAttemptTransition, checkRolloutTransition } from "../types/status.js";
import type { ChangeSet } from "./change-set.js";
import { ACTIVE_ATTEMPT, copy, newAttemptEntry, newId, type AttemptEntry, type RolloutEntry } from "./entries.js";
import type { RolloutQueue } from "./rollout-queue.js";
import type { WorkerTable } from "./worker-table.js";

export interface LifecycleState {
  readonly rollouts: Map<string, RolloutEntry>;
  readonly attempts: Map<string, AttemptEntry>;
  readonly queue: RolloutQueue;
  readonly workers: WorkerTable;
  /** Called when a rollout reaches a terminal status (waitForRollouts listens). */
  readonly onRolloutTerminal: (rolloutId: string) => void;
}

export class AttemptLifecycle {
  /** Attempts that a deadline may still catch. */
  private readonly active = new Set<AttemptEntry>();

  constructor(private readonly s: LifecycleState) {}

  /** Rollout -> preparing with a fresh attempt in preparing. The caller checked the rollout may start. */
  begin(e: RolloutEntry, workerId: string | null, now: number, ch: ChangeSet): AttemptedRollout {
    const attempt: Attempt = {
      rolloutId: e.rollout.rolloutId,
      attemptId: newId("at"),
      sequenceId: e.attempts.length + 1,
      startTime: now,
      endTime: null,
      status: "preparing",
      workerId,
      lastHeartbeatTime: null,
      metadata: {},
    };
    const ae = newAttemptEntry(attempt, true);
    e.attempts.push(ae);
    this.s.attempts.set(attempt.attemptId, ae);
    this.active.add(ae);
    e.rollout = { ...e.rollout, status: "preparing" };
    e.queuedAt = null;
    ch.rollouts.set(e.rollout.rolloutId, e);
    ch.attempts.set(attempt.attemptId, attempt);
    if (workerId) this.s.workers.busy(workerId, attempt, now, ch);
    return { ...copy(e.rollout), attempt: copy(attempt) };
  }

  setRolloutStatus(e: RolloutEntry, to: RolloutStatus, now: number, ch: ChangeSet): void {
    const from = e.rollout.status;
    if (from === to) return;
    checkRolloutTransition(e.rollout.rolloutId, from, to);
    e.rollout = { ...e.rollout, status: to, endTime: isRolloutTerminal(to) ? now : e.rollout.endTime };
    if (to === "requeuing") this.s.queue.push(e);
    else e.queuedAt = null;
    ch.rollouts.set(e.rollout.rolloutId, e);
    if (isRolloutTerminal(to)) this.s.onRolloutTerminal(e.rollout.rolloutId);
  }

  /** Moves an attempt and lets the latest attempt of a rollout drive it (rules at the top). */
  move(ae: AttemptEntry, to: AttemptStatus, now: number, ch: ChangeSet): void {
    const from = ae.attempt.status;
    if (from === to) return;
    checkAttemptTransition(ae.attempt.attemptId, from, to);
    ae.attempt = { ...ae.attempt, status: to, endTime: isAttemptTerminal(to) ? now : ae.attempt.endTime };
    ch.attempts.set(ae.attempt.attemptId, ae.attempt);
    if (ACTIVE_ATTEMPT.includes(to)) this.active.add(ae);
    else this.active.delete(ae);
    if (isAttemptTerminal(to)) this.s.workers.release(ae.attempt, now, ch);

    const re = this.s.rollouts.get(ae.attempt.rolloutId)!;
    if (re.attempts[re.attempts.length - 1] !== ae || isRolloutTerminal(re.rollout.status)) return;
    const rs = re.rollout.status;
    if (to === "running" || to === "succeeded") {
      // An attempt that was given up as unresponsive and speaks again takes its rollout back off the queue.
      if (rs === "requeuing" || rs === "queuing") this.setRolloutStatus(re, "preparing", now, ch);
      this.setRolloutStatus(re, to, now, ch);
    } else if (to === "failed" || to === "timeout" || to === "unresponsive") {
      // Already waiting for its next attempt (or never started): nothing to decide.
      if (rs === "requeuing" || rs === "queuing") return;
      const c = re.rollout.config;
      const retry = c.retryConditions.includes(to) && re.attempts.length < c.maxAttempts;
      this.setRolloutStatus(re, retry ? "requeuing" : "failed", now, ch);
    }
  }

  /** Heard from the attempt (a heartbeat or a span): an unresponsive or preparing one runs. */
  touch(ae: AttemptEntry, now: number, ch: ChangeSet, wake: readonly AttemptStatus[]): void {
    ae.attempt = { ...ae.attempt, lastHeartbeatTime: now };
    ch.attempts.set(ae.attempt.attemptId, ae.attempt);
    if (wake.includes(ae.attempt.status)) this.move(ae, "running", now, ch);
  }

  /** Attempts past their timeout end as timeout; those silent past unresponsiveSeconds become unresponsive. */
  checkDeadlines(t: number, ch: ChangeSet): void {
    for (const ae of [...this.active]) {
      const a = ae.attempt;
      const c = this.s.rollouts.get(a.rolloutId)!.rollout.config;
      if (c.timeoutSeconds !== null && t - a.startTime > c.timeoutSeconds * 1000) {
        this.move(ae, "timeout", t, ch);
      } else if (
        c.unresponsiveSeconds !== null &&
        a.status !== "unresponsive" &&
        t - (a.lastHeartbeatTime ?? a.startTime) > c.unresponsiveSeconds * 1000
      ) {
        this.move(ae, "unresponsive", t, ch);
      }
    }
  }

  /** After replay: the active set rebuilt from the attempts' statuses. */
  rebuild(): void {
    this.active.clear();
    for (const e of this.s.attempts.values()) if (ACTIVE_ATTEMPT.includes(e.attempt.status)) this.active.add(e);
  }

  clear(): void {
    this.active.clear();
  }
}

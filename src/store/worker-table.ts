// The runners a store has heard from: created on first mention (a dequeue,
// an attempt, a heartbeat or updateWorker), marked busy while they hold an
// attempt and idle once it ends.

import type { Attempt, Worker } from "../types/index.js";
import type { ChangeSet } from "./change-set.js";
import { copy } from "./entries.js";
import type { z } from "zod";
import type { WorkerUpdateSchema } from "./operation-args.js";

export class WorkerTable {
  private readonly workers = new Map<string, Worker>();

  get size(): number {
    return this.workers.size;
  }

  /** The worker, created when new, recorded as changed in `ch`. */
  touch(workerId: string, ch: ChangeSet): Worker {
    let w = this.workers.get(workerId);
    if (!w) {
      w = {
        workerId,
        status: "unknown",
        heartbeatStats: null,
        lastHeartbeatTime: null,
        lastDequeueTime: null,
        lastBusyTime: null,
        lastIdleTime: null,
        currentRolloutId: null,
        currentAttemptId: null,
      };
      this.workers.set(workerId, w);
    }
    ch.workers.set(workerId, w);
    return w;
  }

  update(workerId: string, u: z.output<typeof WorkerUpdateSchema>, now: number, ch: ChangeSet): Worker {
    const w = this.touch(workerId, ch);
    if (u.status !== undefined && u.status !== w.status) {
      w.status = u.status;
      if (u.status === "busy") w.lastBusyTime = now;
      if (u.status === "idle") w.lastIdleTime = now;
    }
    if (u.heartbeatStats !== undefined) {
      w.heartbeatStats = u.heartbeatStats === null ? null : copy(u.heartbeatStats);
      w.lastHeartbeatTime = now;
    }
    if (u.currentRolloutId !== undefined) w.currentRolloutId = u.currentRolloutId;
    if (u.currentAttemptId !== undefined) w.currentAttemptId = u.currentAttemptId;
    return w;
  }

  busy(workerId: string, a: Attempt, now: number, ch: ChangeSet): void {
    Object.assign(this.touch(workerId, ch), {
      status: "busy",
      currentRolloutId: a.rolloutId,
      currentAttemptId: a.attemptId,
      lastBusyTime: now,
    });
  }

  /** An ended attempt frees its worker, unless the worker has moved on to another attempt. */
  release(a: Attempt, now: number, ch: ChangeSet): void {
    if (!a.workerId) return;
    const w = this.workers.get(a.workerId);
    if (!w || w.currentAttemptId !== a.attemptId) return;
    Object.assign(w, { status: "idle", currentRolloutId: null, currentAttemptId: null, lastIdleTime: now });
    ch.workers.set(w.workerId, w);
  }

  /** Replay: the logged record. */
  apply(w: Worker): void {
    this.workers.set(w.workerId, w);
  }

  values(): IterableIterator<Worker> {
    return this.workers.values();
  }

  clear(): void {
    this.workers.clear();
  }
}

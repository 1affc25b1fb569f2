// The dequeue order. FIFO by the time a rollout entered the queue: a
// requeued rollout goes to the back, behind rollouts enqueued before its
// attempt failed, so one flaky task cannot starve the rest.
//
// Entries are never removed in place: a rollout that moved on (or was queued
// again later, under a newer position) leaves a stale entry that pop() skips.

import type { RolloutEntry } from "./entries.js";

const isQueued = (e: RolloutEntry) => e.rollout.status === "queuing" || e.rollout.status === "requeuing";

export class RolloutQueue {
  private queue: { id: string; at: number }[] = [];
  private head = 0;
  /** The last position handed out; positions are logged with the rollout, so they survive a restart. */
  private counter = 0;

  /** Puts `e` at the back and records its position in `e.queuedAt`. */
  push(e: RolloutEntry): void {
    e.queuedAt = ++this.counter;
    this.queue.push({ id: e.rollout.rolloutId, at: e.queuedAt });
  }

  /** The oldest rollout still waiting, taken off the queue; null when none. */
  pop(rollouts: ReadonlyMap<string, RolloutEntry>): RolloutEntry | null {
    while (this.head < this.queue.length) {
      const q = this.queue[this.head++];
      const e = rollouts.get(q.id);
      if (e && e.queuedAt === q.at && isQueued(e)) return e;
    }
    // Compact once drained so the array does not grow forever.
    this.clear();
    return null;
  }

  /** Replay: a logged position; new positions follow the highest one seen. */
  notePosition(at: number): void {
    if (at > this.counter) this.counter = at;
  }

  /** After replay: the queue rebuilt from the rollouts' logged positions. */
  rebuild(rollouts: Iterable<RolloutEntry>): void {
    this.clear();
    const queued = [...rollouts].filter((e) => e.queuedAt !== null && isQueued(e));
    queued.sort((a, b) => a.queuedAt! - b.queuedAt!);
    for (const e of queued) this.queue.push({ id: e.rollout.rolloutId, at: e.queuedAt! });
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
  }
}

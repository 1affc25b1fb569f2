// What one mutation changed, collected deduplicated while the state changes,
// then handed to the backend's persist() as one WAL record.

import type { Attempt, ResourcesUpdate, Worker } from "../types/index.js";
import type { RolloutEntry } from "./entries.js";
import type { SpanBlock } from "./span-list.js";
import type { LoggedRollout, WalRecord } from "./wal.js";

export class ChangeSet {
  rollouts = new Map<string, RolloutEntry>();
  attempts = new Map<string, Attempt>();
  workers = new Map<string, Worker>();
  /** The spans this mutation added, encoded once for memory and the WAL alike. */
  spanBlock: SpanBlock | null = null;
  resources: ResourcesUpdate[] = [];
  latestResourcesId: string | undefined;

  toRecord(): WalRecord {
    const rec: WalRecord = {};
    if (this.rollouts.size)
      rec.rollouts = [...this.rollouts.values()].map((e): LoggedRollout => ({ rollout: e.rollout, queuedAt: e.queuedAt }));
    if (this.attempts.size) rec.attempts = [...this.attempts.values()];
    if (this.resources.length) rec.resources = this.resources;
    if (this.workers.size) rec.workers = [...this.workers.values()];
    if (this.latestResourcesId !== undefined) rec.latestResourcesId = this.latestResourcesId;
    return rec;
  }

  get empty(): boolean {
    return !this.rollouts.size && !this.attempts.size && !this.workers.size && !this.spanBlock && !this.resources.length;
  }
}

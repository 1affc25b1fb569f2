// How an in-process store holds a rollout and its attempts: the public
// records plus what only the store needs (spans, queue position, the next
// span sequence id).

import { randomBytes } from "node:crypto";
import type { Attempt, AttemptStatus, Rollout } from "../types/index.js";
import { SpanList } from "./span-list.js";

export interface AttemptEntry {
  attempt: Attempt;
  /** Spans held in memory. */
  spans: SpanList;
  nextSeq: number;
}

export interface RolloutEntry {
  rollout: Rollout;
  /** Oldest first (by attempt sequenceId). */
  attempts: AttemptEntry[];
  /** Position in the dequeue order while queuing/requeuing, else null. */
  queuedAt: number | null;
}

export function newAttemptEntry(attempt: Attempt): AttemptEntry {
  return { attempt, spans: new SpanList(), nextSeq: 0 };
}

/** Statuses a deadline can still catch. */
export const ACTIVE_ATTEMPT: readonly AttemptStatus[] = ["preparing", "running", "unresponsive"];

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString("hex")}`;
}

/** A copy the caller may change without touching the store (and the store without touching the caller's). */
export function copy<T>(v: T): T {
  return structuredClone(v);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// How an in-process store holds a rollout and its attempts: the public
// records plus what only the store needs (spans, queue position, the next
// span sequence id).

import { randomBytes } from "node:crypto";
import type { Attempt, AttemptStatus, Rollout, Span } from "../types/index.js";
import { primaryReward } from "../adapter/rewards.js";
import { SpanList } from "./span-list.js";

export interface AttemptEntry {
  attempt: Attempt;
  /** Spans held in memory. */
  spans: SpanList;
  nextSeq: number;
  /** The last reward span seen at ingest (highest sequence id, the first of equals), as finalReward picks it. */
  reward: { seq: number; value: number } | null;
  /**
   * Whether every span of the attempt went through this store's ingest, so `reward` is its
   * reward. Attempts restored from a log may have spans only in Parquet: their spans are read.
   */
  rewardTracked: boolean;
}

export interface RolloutEntry {
  rollout: Rollout;
  /** Oldest first (by attempt sequenceId). */
  attempts: AttemptEntry[];
  /** Position in the dequeue order while queuing/requeuing, else null. */
  queuedAt: number | null;
}

export function newAttemptEntry(attempt: Attempt, rewardTracked: boolean): AttemptEntry {
  return { attempt, spans: new SpanList(), nextSeq: 0, reward: null, rewardTracked };
}

/** Keeps `e.reward` the primary value of its last reward span (finalReward's choice) as a span comes in. */
export function noteReward(e: AttemptEntry, span: Span): void {
  const v = primaryReward(span);
  // + 0: the span is kept as JSON, where -0 reads back as 0.
  if (v !== null && (!e.reward || span.sequenceId > e.reward.seq)) e.reward = { seq: span.sequenceId, value: v + 0 };
}

/** Statuses a deadline can still catch. */
export const ACTIVE_ATTEMPT: readonly AttemptStatus[] = ["preparing", "running", "unresponsive"];

/** Random bytes drawn in bulk: one randomBytes call per id cost ~13 us each under load (bench/loop/overhead.ts). */
const ID_POOL_BYTES = 4096;
let idPool = Buffer.alloc(0);
let idPoolAt = 0;

export function newId(prefix: string): string {
  if (idPoolAt + 8 > idPool.length) {
    idPool = randomBytes(ID_POOL_BYTES);
    idPoolAt = 0;
  }
  idPoolAt += 8;
  return `${prefix}-${idPool.toString("hex", idPoolAt - 8, idPoolAt)}`;
}

/**
 * A copy the caller may change without touching the store (and the store
 * without touching the caller's). Plain JSON-like data (what rollouts,
 * attempts and resources hold) is copied directly, ~5x faster than
 * structuredClone on these small records; anything else (a Date, a Map, a
 * cycle, a function) goes to structuredClone, so the result, or the error, is
 * what structuredClone gives.
 */
export function copy<T>(v: T): T {
  if (typeof v !== "object" || v === null) return typeof v === "function" || typeof v === "symbol" ? structuredClone(v) : v;
  try {
    return copyPlain(v, 0) as T;
  } catch (e) {
    if (e !== NOT_PLAIN) throw e;
    return structuredClone(v);
  }
}

const NOT_PLAIN = Symbol("not plain data");
/** Deeper than this is more likely a cycle than a record. */
const MAX_DEPTH = 64;

function copyPlain(v: unknown, depth: number): unknown {
  if (typeof v !== "object" || v === null) {
    if (typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") throw NOT_PLAIN;
    return v;
  }
  if (depth > MAX_DEPTH) throw NOT_PLAIN;
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) throw NOT_PLAIN;
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      // A hole stays a hole, as structuredClone keeps it.
      if (i in v) out[i] = copyPlain(v[i], depth + 1);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const k in v) {
    const x = copyPlain((v as Record<string, unknown>)[k], depth + 1);
    // An own "__proto__" key (JSON.parse makes them) stays a key, not a prototype.
    if (k === "__proto__") Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

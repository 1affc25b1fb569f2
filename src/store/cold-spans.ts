// A durable store's cold spans: those that live only in Parquet parts (from
// earlier sessions, or evicted from memory after their segment was sealed).
// It knows which part files hold spans of which attempt, so a query scoped to
// a rollout opens only those files (DuckDB pays ~4 ms per file opened), and
// merges what DuckDB returns with the spans memory still holds.

import type { Span } from "../types/span.js";
import { cmp } from "./entries.js";

/** A querySpans filter, sent to the Parquet parts. */
export interface ColdSpanQuery {
  rolloutId?: string;
  /** null: any attempt. */
  attemptIds: string[] | null;
  name?: string;
  namePrefix?: string;
  minSequenceId?: number;
  limit?: number;
}

export class ColdSpans {
  /** Spans in parts, attempts unknown to the store included. */
  count = 0;
  /** Per attempt, its spans that live only in parts. */
  private readonly byAttempt = new Map<string, number>();
  /** Part files whose spans are queried from disk, oldest first. */
  private parts: string[] = [];
  /** Which part files hold spans of an attempt. */
  private readonly partsByAttempt = new Map<string, Set<string>>();

  /** `count` spans of `attemptId` live only in `path`. */
  note(attemptId: string, count: number, path: string): void {
    this.count += count;
    this.byAttempt.set(attemptId, (this.byAttempt.get(attemptId) ?? 0) + count);
    let parts = this.partsByAttempt.get(attemptId);
    if (!parts) this.partsByAttempt.set(attemptId, (parts = new Set()));
    parts.add(path);
  }

  /** A part whose spans are read from disk from now on. */
  addPart(path: string): void {
    this.parts.push(path);
  }

  has(attemptId: string): boolean {
    return this.byAttempt.has(attemptId);
  }

  /** Whether any attempt `isKnown` accepts has spans in parts. */
  hasAny(isKnown: (attemptId: string) => boolean): boolean {
    for (const id of this.byAttempt.keys()) if (isKnown(id)) return true;
    return false;
  }

  /** Every part file, for a query over all attempts. */
  allParts(): readonly string[] {
    return this.parts;
  }

  /** The part files holding spans of these attempts, sorted. */
  partsOf(attemptIds: readonly string[]): string[] {
    const files = new Set<string>();
    for (const id of attemptIds) for (const p of this.partsByAttempt.get(id) ?? []) files.add(p);
    return [...files].sort();
  }

  /** Starts over with these part files (a load). */
  reset(parts: string[]): void {
    this.count = 0;
    this.byAttempt.clear();
    this.partsByAttempt.clear();
    this.parts = parts;
  }
}

function spanOrder(a: Span, b: Span): number {
  return cmp(a.rolloutId, b.rolloutId) || cmp(a.attemptId, b.attemptId) || a.sequenceId - b.sequenceId;
}

/** Merges two lists sorted by (rolloutId, attemptId, sequenceId), keeping the first `limit`. */
export function mergeSpans(a: Span[], b: Span[], limit: number): Span[] {
  const out: Span[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && spanOrder(a[i], b[j]) <= 0)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

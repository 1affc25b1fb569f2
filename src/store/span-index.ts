// The spans a store holds in memory: each attempt's SpanList (sequence id,
// interned name, where its JSON line lies) over blocks carved from one arena.
// A durable store adds spans that live only in Parquet (cold-spans.ts).

import type { Span, SpanQuery } from "../types/index.js";
import { noteReward, type AttemptEntry } from "./entries.js";
import { encodeSpanBlock, NameInterner, SpanArena, type SpanBlock } from "./span-list.js";

export class SpanIndex {
  private readonly names = new NameInterner();
  private arena = new SpanArena();
  /** Spans held in memory. */
  count = 0;
  /** The WAL segment new spans are logged in (memory stores stay at 0); eviction goes by segment. */
  segment = 0;

  /**
   * Stores spans whose sequence ids are assigned, `entries[i]` being span i's
   * attempt, as one block; returns the block for the WAL.
   */
  insert(entries: readonly AttemptEntry[], spans: readonly Span[]): SpanBlock {
    const block = this.arena.encode(spans, this.segment);
    for (let i = 0; i < spans.length; i++) {
      entries[i].spans.insert(spans[i].sequenceId, this.names.intern(spans[i].name), block, i, this.segment);
      noteReward(entries[i], spans[i]);
    }
    this.count += spans.length;
    return block;
  }

  /**
   * Replay: spans restored from the WAL; those of unknown attempts are kept
   * out of queries. `block` is their JSON lines when the log had them as such.
   */
  apply(attempts: ReadonlyMap<string, AttemptEntry>, spans: readonly Span[], block: SpanBlock = encodeSpanBlock(spans)): void {
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      const e = attempts.get(s.attemptId);
      if (!e || e.attempt.rolloutId !== s.rolloutId) continue;
      e.spans.insert(s.sequenceId, this.names.intern(s.name), block, i, this.segment);
      noteReward(e, s);
      if (s.sequenceId >= e.nextSeq) e.nextSeq = s.sequenceId + 1;
      this.count++;
    }
  }

  /**
   * Lets go of the spans logged in segments <= `segment` (the arena reuses
   * their chunks). Returns how many each attempt lost.
   */
  evictUpTo(attempts: Iterable<AttemptEntry>, segment: number): { entry: AttemptEntry; count: number }[] {
    const evicted: { entry: AttemptEntry; count: number }[] = [];
    for (const e of attempts) {
      const n = e.spans.evictUpTo(segment);
      if (!n) continue;
      this.count -= n;
      evicted.push({ entry: e, count: n });
    }
    this.arena.release(segment);
    return evicted;
  }

  /** Appends the in-memory spans of `attempts` matching `q` to `out`, in sequence order, until `out` holds `limit`. */
  read(attempts: readonly AttemptEntry[], q: Pick<SpanQuery, "minSequenceId" | "name" | "namePrefix">, limit: number, out: Span[]): void {
    for (const ae of attempts) {
      const spans = ae.spans;
      let i = q.minSequenceId === undefined ? 0 : spans.lowerBound(q.minSequenceId);
      for (; i < spans.length && out.length < limit; i++) {
        const name = spans.nameAt(i);
        if (q.name !== undefined && name !== q.name) continue;
        if (q.namePrefix !== undefined && !name.startsWith(q.namePrefix)) continue;
        out.push(spans.read(i));
      }
    }
  }

  clear(): void {
    this.count = 0;
    this.names.clear();
    this.arena = new SpanArena();
  }
}

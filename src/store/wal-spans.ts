// Spans a durable store has acknowledged but not yet folded into Parquet,
// for read-only readers (frames) that query the part files with DuckDB.

import type { Span } from "../types/span.js";
import { listStoreDir, retryOnVanish, walPath } from "./store-dir.js";
import { readWalFile } from "./wal.js";
import { screenSpans } from "./quarantine.js";

/**
 * Spans in WAL segments of `dir` that have no Parquet part yet, in log order.
 * Together with `read_parquet('<dir>/spans/part-*.parquet')` this is every
 * acknowledged span exactly once. Safe while another process writes: a torn
 * tail is skipped, a segment compacted away mid-read restarts the listing.
 * Spans the store sets aside (quarantine, see parquet-layout.ts) are skipped.
 */
export function readWalSpans(dir: string): Span[] {
  return retryOnVanish(() => {
    const { segments, parts } = listStoreDir(dir);
    const out: Span[] = [];
    for (const n of segments) {
      if (parts.has(n)) continue;
      const log = readWalFile(walPath(dir, n));
      log.records.forEach((rec, i) => {
        if (!rec.spans) return;
        for (const s of screenSpans(rec.spans, log.blocks[i])?.kept ?? rec.spans) out.push(s);
      });
    }
    return out;
  });
}

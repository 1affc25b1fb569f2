// Listing a durable store directory by the rules of parquet-layout.ts.

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { STORE_LAYOUT } from "./parquet-layout.js";

export interface StoreDirListing {
  /** WAL segment numbers, ascending. */
  segments: number[];
  /** Segment numbers that have a span part file. */
  parts: Set<number>;
  /** Snapshot numbers, ascending. */
  snapshots: number[];
}

function numbers(dir: string, re: RegExp): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  for (const f of readdirSync(dir)) {
    const m = re.exec(f);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Snapshot numbers, ascending. */
export const listSnapshots = (dir: string) => numbers(dir, STORE_LAYOUT.snapshotPattern);

export function listStoreDir(dir: string): StoreDirListing {
  // Segments first, parts after: a part that appears between the two listings
  // only makes a reader skip a segment whose spans it then reads from Parquet.
  const segments = numbers(join(dir, STORE_LAYOUT.walDir), STORE_LAYOUT.walPattern);
  const parts = new Set(numbers(join(dir, STORE_LAYOUT.spansDir), STORE_LAYOUT.partPattern));
  const snapshots = listSnapshots(dir);
  return { segments, parts, snapshots };
}

export const walPath = (dir: string, n: number) => join(dir, STORE_LAYOUT.walDir, STORE_LAYOUT.walFile(n));
export const partPath = (dir: string, n: number) => join(dir, STORE_LAYOUT.spansDir, STORE_LAYOUT.partFile(n));
export const snapshotPath = (dir: string, n: number) => join(dir, STORE_LAYOUT.snapshotFile(n));

/** A checkpoint finished while a reader listed the directory: what it listed may not fit together. */
export class ListingMoved extends Error {
  override readonly name = "ListingMoved";
}

/**
 * Retries a read of a directory another process is compacting (a file it
 * listed may vanish, or a checkpoint moved the snapshot on meanwhile).
 */
export function retryOnVanish<T>(fn: () => T, tries = 5): T {
  for (let i = 1; ; i++) {
    try {
      return fn();
    } catch (e) {
      if (i >= tries || !((e as NodeJS.ErrnoException).code === "ENOENT" || e instanceof ListingMoved)) throw e;
    }
  }
}

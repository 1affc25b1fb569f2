// Reading a durable store directory without opening a store: rollout state
// from the newest snapshot plus the WAL after it, spans from the Parquet
// parts as Arrow (projection and filters pushed down) plus the WAL
// tail, so an experiment another process is still writing is seen live.
// A read-only DurableStore would load every span into memory; frames read
// only the columns and rows they need.

import { existsSync, openAsBlob, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { ParquetFile } from "parquet-wasm";
import { queryArrow, readParquetArrow, type ArrowColumns } from "./arrow.js";
import { DERIVED_FROM, derivedSql } from "./legacy-columns.js";
import { NotFoundError } from "../types/errors.js";
import type { Attempt, ResourcesUpdate, Rollout, Span } from "../types/index.js";
import { SPAN_COLUMN_NAMES, STORE_LAYOUT } from "../store/parquet-layout.js";
import { listStoreDir, partPath, retryOnVanish, snapshotPath, walPath } from "../store/store-dir.js";
import { readWalFile, type WalRecord } from "../store/wal.js";

export interface DirState {
  rollouts: Rollout[];
  attempts: Attempt[];
  resources: ResourcesUpdate[];
}

export function checkStoreDir(dir: string, where: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new NotFoundError("store directory", dir);
  const hasLayout =
    existsSync(join(dir, STORE_LAYOUT.walDir)) || existsSync(join(dir, STORE_LAYOUT.spansDir)) || listStoreDir(dir).snapshots.length > 0;
  if (!hasLayout) throw new NotFoundError(`${where}: Arclight store (no wal/, spans/ or snapshot) in`, dir);
}

/** Rollouts, attempts and resource versions as of the last durable WAL record. */
export function readDirState(dir: string): DirState {
  const records = retryOnVanish(() => {
    const { segments, snapshots } = listStoreDir(dir);
    const recs: WalRecord[] = [];
    let base = 0;
    for (let i = snapshots.length - 1; i >= 0; i--) {
      try {
        const snap = JSON.parse(readFileSync(snapshotPath(dir, snapshots[i]), "utf8")) as {
          format: number;
          segment: number;
          state: WalRecord;
        };
        if (snap.format === 1) {
          recs.push(snap.state);
          base = snap.segment;
          break;
        }
      } catch (e) {
        // A torn snapshot from a crash: fall back to the one before it. A vanished one restarts the listing.
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw e;
      }
    }
    for (const n of segments) if (n > base) for (const r of readWalFile(walPath(dir, n)).records) recs.push(r);
    return recs;
  });
  const rollouts = new Map<string, Rollout>();
  const attempts = new Map<string, Attempt>();
  const resources: ResourcesUpdate[] = [];
  for (const rec of records) {
    for (const r of rec.rollouts ?? []) rollouts.set(r.rollout.rolloutId, r.rollout);
    for (const a of rec.attempts ?? []) attempts.set(a.attemptId, a);
    for (const r of rec.resources ?? []) resources.push(r);
  }
  return { rollouts: [...rollouts.values()], attempts: [...attempts.values()], resources };
}

// ---------------------------------------------------------------------------
// DuckDB

let instance: Promise<DuckDBInstance> | null = null;

/**
 * One shared in-memory DuckDB for frames; two threads because the machine
 * may be small and shared. Its in-process cache of Parquet bytes is off: the
 * OS page cache already holds hot files, and reads then stay measurable.
 */
export async function duckdb(): Promise<DuckDBConnection> {
  instance ??= (async () => {
    const db = await DuckDBInstance.create(":memory:", { threads: "2" });
    const c = await db.connect();
    try {
      await c.run("SET enable_external_file_cache = false");
    } catch {
      // Older DuckDB builds have no such cache.
    } finally {
      c.closeSync();
    }
    return db;
  })();
  return (await instance).connect();
}

export const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Columns old parts may lack (added to the layout later), checked per part. */
const LATE_COLUMNS = Object.keys(DERIVED_FROM);
const lacking = new Map<string, { key: string; missing: string[] }>();

/** The late columns `path` lacks; cached per file version (a part, once written, never changes). */
async function missingColumns(path: string): Promise<string[]> {
  const st = statSync(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = lacking.get(path);
  if (hit?.key === key) return hit.missing;
  const file = await ParquetFile.fromFile(await openAsBlob(path));
  const missing: string[] = [];
  try {
    const schema = file.schema();
    for (const c of LATE_COLUMNS) {
      try {
        schema.indexOf(c);
      } catch {
        missing.push(c);
      }
    }
    schema.free();
  } finally {
    file.free();
  }
  lacking.set(path, { key, missing });
  return missing;
}

/**
 * A SQL relation with every span column (SPAN_COLUMNS) over the part files:
 * parts written before a column existed get it computed by the rule the
 * writer applies (legacy-columns.ts), so queries see one schema. Parts are
 * grouped by what they lack, groups in file order.
 */
export async function partsSql(files: readonly string[]): Promise<string> {
  const groups = new Map<string, { missing: string[]; files: string[] }>();
  for (const f of files) {
    const missing = await missingColumns(f);
    const k = missing.join(",");
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { missing, files: [] }));
    g.files.push(f);
  }
  return [...groups.values()]
    .map((g) => {
      const list = `read_parquet([${g.files.map(sqlString).join(", ")}])`;
      if (g.missing.length === 0) return `SELECT ${SPAN_COLUMN_NAMES.join(", ")} FROM ${list}`;
      return `SELECT ${SPAN_COLUMN_NAMES.map((c) => (g.missing.includes(c) ? `${derivedSql(c)} AS ${c}` : c)).join(", ")} FROM ${list}`;
    })
    .join(" UNION ALL ");
}

export interface SpanScan {
  /** Parquet columns to read (projection). */
  columns: readonly string[];
  /** A SQL predicate over the Parquet columns, pushed into the scan (row-group pruning on min/max stats). */
  where?: string;
  /** The same predicate for WAL spans, which never touch DuckDB. */
  walFilter?: (s: Span) => boolean;
  /**
   * Attribute keys DuckDB extracts from the attributes JSON, each as the JSON
   * text of its value (null when absent) in column `attributeColumn(i)`: far
   * less to bring into JS than the whole object when a frame needs a few keys.
   */
  attributeKeys?: readonly string[];
}

/** The scan column holding the JSON text of `attributeKeys[i]`. */
export const attributeColumn = (i: number) => `attr_${i}`;

/** A JSON pointer (RFC 6901) to a top-level key: no quoting rules to get wrong for keys holding dots or quotes. */
function jsonPointer(key: string): string {
  return `/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

export interface ScanResult {
  /** Parquet rows as Arrow columns (times as TIMESTAMP_MICROS: read them with timeMs); WAL rows come after, as Span objects in `wal`. */
  parquet: ArrowColumns["columns"];
  parquetRows: number;
  wal: Span[];
  partFiles: string[];
}

/**
 * Reads the spans of `dir`: Parquet parts as Arrow, then WAL segments that
 * have no part yet. The WAL is read first and the part listing taken after,
 * so a checkpoint racing the read can only produce a part whose WAL spans we
 * already hold; those are dropped, and every span is returned exactly once.
 * Without a predicate parquet-wasm reads the parts directly; with one, DuckDB
 * filters them (row groups pruned on min/max) and hands the rows over as Arrow.
 */
export async function scanSpans(dir: string, scan: SpanScan): Promise<ScanResult> {
  const walBySegment = retryOnVanish(() => {
    const { segments, parts } = listStoreDir(dir);
    const out = new Map<number, Span[]>();
    for (const n of segments) {
      if (parts.has(n)) continue;
      const spans: Span[] = [];
      for (const rec of readWalFile(walPath(dir, n)).records) if (rec.spans) for (const s of rec.spans) spans.push(s);
      out.set(n, spans);
    }
    return out;
  });
  const parts = [...listStoreDir(dir).parts].sort((a, b) => a - b);
  for (const n of parts) walBySegment.delete(n);
  const wal: Span[] = [];
  for (const spans of walBySegment.values()) for (const s of spans) if (!scan.walFilter || scan.walFilter(s)) wal.push(s);

  const partFiles = parts.map((n) => partPath(dir, n));
  let arrow: ArrowColumns = { rows: 0, columns: {} };
  const keys = scan.attributeKeys ?? [];
  if (partFiles.length > 0 && scan.columns.length + keys.length > 0) {
    if (!scan.where && keys.length === 0) arrow = await readParquetArrow(partFiles, scan.columns);
    else {
      // TRY: an attributes value that is not JSON gives null, as parseAttributes does, instead of failing the query.
      const extracted = keys.map((k, i) => `TRY(json_extract(attributes, ${sqlString(jsonPointer(k))})) AS ${attributeColumn(i)}`);
      const select = [...scan.columns, ...extracted];
      const names = [...scan.columns, ...keys.map((_, i) => attributeColumn(i))];
      const c = await duckdb();
      try {
        arrow = await queryArrow(
          c,
          `SELECT ${select.join(", ")} FROM (${await partsSql(partFiles)})${scan.where ? ` WHERE ${scan.where}` : ""}`,
          names,
        );
      } finally {
        c.closeSync();
      }
    }
  }
  return { parquet: arrow.columns, parquetRows: arrow.rows, wal, partFiles };
}

// Span Parquet files as Arrow columns in JS: parquet-wasm decodes the files
// (projection pushed down) into Arrow IPC, flechette maps that IPC without
// converting values, and arquero reads the columns in place. Values are
// decoded when a row is read, never one N-API call per value (bench/frames:
// that was ~35 s for a million spans).

import { openAsBlob, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Column, tableFromIPC, type Table } from "@uwdata/flechette";
import { ParquetFile } from "parquet-wasm";
import type { DuckDBConnection } from "@duckdb/node-api";

/** What arquero needs of a column (its ColumnType): a length, random access and iteration. */
export interface ColumnLike<T = unknown> {
  readonly length: number;
  at(row: number): T;
  [Symbol.iterator](): Iterator<T>;
}

/** Named Arrow columns of equal length, one flechette Column per name (a batch per file). */
export interface ArrowColumns {
  rows: number;
  columns: Record<string, Column<unknown>>;
}

/** A Blob over the file on disk: parquet-wasm reads the footer and only the projected column chunks. */
async function readFile(path: string, columns: readonly string[]): Promise<Table> {
  const file = await ParquetFile.fromFile(await openAsBlob(path));
  try {
    const t = await file.read({ columns: [...columns] });
    return tableFromIPC(t.intoIPCStream());
  } finally {
    file.free();
  }
}

/** `columns` of the Parquet `files`, in file order, as Arrow; no file means no rows. */
export async function readParquetArrow(files: readonly string[], columns: readonly string[]): Promise<ArrowColumns> {
  const tables: Table[] = [];
  for (const f of files) tables.push(await readFile(f, columns));
  const out: Record<string, Column<unknown>> = {};
  let rows = 0;
  for (const t of tables) rows += t.numRows;
  for (const name of columns) {
    const batches = tables.flatMap((t) => t.getChild(name).data);
    if (batches.length) out[name] = new Column(batches);
  }
  return { rows, columns: out };
}

let scratch = 0;

/**
 * The result of a DuckDB query as Arrow: DuckDB writes it to a scratch
 * Parquet file with its own threads and parquet-wasm reads it back, which
 * costs a fraction of moving values through @duckdb/node-api one by one.
 * LZ4: uncompressed scratch files read back 6x slower (bench/frames, 200k
 * rows with attributes: 6.5 s vs 1.0 s CPU), zstd costs more to write.
 */
export async function queryArrow(c: DuckDBConnection, query: string, columns: readonly string[]): Promise<ArrowColumns> {
  const path = join(tmpdir(), `arclight-frames-${process.pid}-${scratch++}.parquet`);
  try {
    await c.run(`COPY (${query}) TO '${path.replaceAll("'", "''")}' (FORMAT parquet, COMPRESSION lz4)`);
    return await readParquetArrow([path], columns);
  } finally {
    rmSync(path, { force: true });
  }
}

/**
 * Epoch milliseconds of a Parquet TIMESTAMP_MICROS column, as Number(us) / 1000
 * (what DuckDB's epoch_us gave, so directory and store frames stay equal).
 */
export function timeMs(col: Column<unknown> | undefined, rows: number): Float64Array {
  const out = new Float64Array(rows).fill(NaN);
  if (!col) return out;
  let k = 0;
  for (const b of col.data) {
    const v = b.values as BigInt64Array;
    if (b.nullCount === 0) for (let i = 0; i < b.length; i++) out[k++] = Number(v[i]) / 1000;
    else for (let i = 0; i < b.length; i++) out[k++] = b.isValid(i) ? Number(v[i]) / 1000 : NaN;
  }
  return out;
}

/** Column values as a JS array (strings decoded, int64 as numbers, nulls as null); absent column: all null. */
export function values(col: Column<unknown> | undefined, rows: number): ArrayLike<unknown> {
  return col ? col.toArray() : new Array<null>(rows).fill(null);
}

/** A column read through `f` on access: Dates over epoch ms, JSON parsed when a row is looked at. */
export function mapped<S, T>(source: ArrayLike<S> | ColumnLike<S>, f: (v: S) => T): ColumnLike<T> {
  const get = "at" in source && typeof source.at === "function" ? (i: number) => source.at(i) : (i: number) => (source as ArrayLike<S>)[i];
  return {
    length: source.length,
    at: (i) => f(get(i) as S),
    *[Symbol.iterator]() {
      for (let i = 0; i < source.length; i++) yield f(get(i) as S);
    },
  };
}

/** Like mapped, but each row's value is computed once and kept (parsed attribute JSON). */
export function memoized<S, T>(source: ArrayLike<S> | ColumnLike<S>, f: (v: S) => T): ColumnLike<T> {
  const inner = mapped(source, f);
  const cache = new Array<T>(source.length);
  const done = new Uint8Array(source.length);
  const at = (i: number): T => {
    if (!done[i]) {
      cache[i] = inner.at(i);
      done[i] = 1;
    }
    return cache[i];
  };
  return {
    length: source.length,
    at,
    *[Symbol.iterator]() {
      for (let i = 0; i < source.length; i++) yield at(i);
    },
  };
}

/** Two columns end to end (Parquet rows, then the WAL tail), so the tail needs no copy of the rest. */
export function concat<T>(head: ColumnLike<T>, tail: ArrayLike<T>): ColumnLike<T> {
  if (tail.length === 0) return head;
  const n = head.length;
  return {
    length: n + tail.length,
    at: (i) => (i < n ? head.at(i) : tail[i - n]),
    *[Symbol.iterator]() {
      yield* head;
      for (let i = 0; i < tail.length; i++) yield tail[i];
    },
  };
}

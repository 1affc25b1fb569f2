// Span Parquet files as Arrow columns in JS: parquet-wasm decodes the files
// (projection pushed down; large reads on two workers) into Arrow IPC, flechette maps that IPC without
// converting values, and arquero reads the columns in place. Values are
// decoded when a row is read, never one N-API call per value (bench/frames:
// that was ~35 s for a million spans).

import { rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Column, tableFromIPC, type Table } from "@uwdata/flechette";
import { Worker } from "node:worker_threads";
import { missingColumnBatches } from "./legacy-columns.js";
import { parquetToIpc } from "./parquet-ipc.js";
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

/** Reads below this many bytes of Parquet stay on the main thread: a worker round trip costs more. */
const WORKER_MIN_BYTES = 4 << 20;

/**
 * Decoding workers: parquet-wasm is single-threaded, so a large read decodes
 * its files on up to two workers at once while this thread only maps the
 * IPC they return (the target machines have two cores or more).
 */
const POOL_SIZE = Math.min(2, availableParallelism());

let pool: Worker[] = [];
let poolBroken = false;
let jobs = 0;
const pending = new Map<number, { resolve: (ipc: Uint8Array) => void; reject: (e: Error) => void }>();

/**
 * The decoding workers, started on first use and kept (unref'd while idle:
 * they never hold the process open).
 */
function decoders(): Worker[] {
  if (poolBroken || POOL_SIZE < 2) return [];
  try {
    while (pool.length < POOL_SIZE) pool.push(startDecoder());
  } catch {
    stopPool();
  }
  return pool;
}

/**
 * Run from TypeScript sources (tests, tsx) the worker is the .ts file, and
 * tsx must be registered inside the worker before it loads: `--import tsx`
 * in execArgv is not applied to worker threads in time.
 */
function startDecoder(): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(`./parquet-worker${fromSource ? ".ts" : ".js"}`, import.meta.url);
  const worker = fromSource
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`,
        { eval: true },
      )
    : new Worker(url);
  worker.unref();
  worker.on("message", (m: { id: number; ipc?: Uint8Array; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    worker.unref();
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.ipc!);
  });
  worker.on("error", (e) => {
    // A worker that cannot run (no loader for it, a crash) is not retried: reads go on in this thread.
    stopPool();
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  });
  return worker;
}

function stopPool(): void {
  poolBroken = true;
  for (const w of pool) void w.terminate();
  pool = [];
}

function inWorker(w: Worker, file: string, columns: readonly string[]): Promise<Uint8Array> {
  const id = jobs++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Held while a job runs, or a process awaiting only the worker would exit under it.
    w.ref();
    w.postMessage({ id, file, columns: [...columns] });
  });
}

async function inThread(files: readonly string[], columns: readonly string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const f of files) out.push(await parquetToIpc(f, columns));
  return out;
}

/**
 * IPC bytes of each file, in file order. A large read hands the files out
 * one at a time to whichever worker is free, so a slow file or a busy core
 * does not hold the other worker idle.
 */
async function decodeAll(files: readonly string[], columns: readonly string[], workerMinBytes: number): Promise<Uint8Array[]> {
  const total = files.length >= 2 && Number.isFinite(workerMinBytes) ? files.reduce((a, f) => a + statSync(f).size, 0) : 0;
  const ds = files.length >= 2 && total >= workerMinBytes ? decoders() : [];
  if (ds.length === 0) return inThread(files, columns);
  const out = new Array<Uint8Array>(files.length);
  let next = 0;
  const run = async (w: Worker): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      if (!poolBroken) {
        try {
          out[i] = await inWorker(w, files[i], columns);
          continue;
        } catch (e) {
          if (!poolBroken) throw e;
        }
      }
      // A worker that failed to run is not a read failure: the file is decoded here.
      out[i] = await parquetToIpc(files[i], columns);
    }
  };
  const results = await Promise.allSettled(ds.map(run));
  for (const r of results) if (r.status === "rejected") throw r.reason;
  return out;
}

/**
 * `columns` of the Parquet `files`, in file order, as Arrow; no file means
 * no rows. A file without one of the columns (written before it existed)
 * gets it computed (derived columns) or as nulls (legacy-columns.ts).
 */
export async function readParquetArrow(
  files: readonly string[],
  columns: readonly string[],
  opts: { workerMinBytes?: number } = {},
): Promise<ArrowColumns> {
  const tables: Table[] = (await decodeAll(files, columns, opts.workerMinBytes ?? WORKER_MIN_BYTES)).map((ipc) => tableFromIPC(ipc));
  const out: Record<string, Column<unknown>> = {};
  let rows = 0;
  for (const t of tables) rows += t.numRows;
  for (const name of columns) {
    const batches = tables.flatMap((t) => t.getChild(name)?.data ?? (t.numRows ? missingColumnBatches(name, t) : []));
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

/** Random access to a column or an array, one definition for both. */
export function reader<T>(source: ArrayLike<T> | ColumnLike<T>): (row: number) => T {
  return "at" in source && typeof source.at === "function" ? (i) => source.at(i) : (i) => (source as ArrayLike<T>)[i];
}

/** A column read through `f` on access: Dates over epoch ms, JSON parsed when a row is looked at. */
export function mapped<S, T>(source: ArrayLike<S> | ColumnLike<S>, f: (v: S) => T): ColumnLike<T> {
  const get = reader(source);
  return indexed(source.length, (i) => f(get(i)));
}

/** A column of `length` rows whose row i is `f(i)`, computed when read. */
export function indexed<T>(length: number, f: (row: number) => T): ColumnLike<T> {
  return {
    length,
    at: f,
    *[Symbol.iterator]() {
      for (let i = 0; i < length; i++) yield f(i);
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

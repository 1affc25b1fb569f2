// `sql(dir, "SELECT ...")`: DuckDB SQL over a store directory's span files,
// for data too big for arquero. `spans` is a view over the Parquet parts
// plus the spans still only in the WAL, so a running experiment is current.

import type { ColumnTable } from "arquero";
import * as aq from "arquero";
import { SPAN_COLUMNS } from "../store/parquet-layout.js";
import { appendSpanRows } from "../store/parquet-io.js";
import { ValidationError } from "../types/errors.js";
import { checkStoreDir, duckdb, partsSql, scanSpans } from "./dir-reader.js";

export interface SqlOptions {
  /** Also see spans not yet folded into Parquet (default true). */
  includeWal?: boolean;
}

/** DuckDB values -> JS values arquero handles: safe bigints become numbers, the rest stays (Dates, strings, null). */
function jsValue(v: unknown): unknown {
  if (typeof v === "bigint") return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

/**
 * Runs one DuckDB query over the spans of `dir` (view `spans`, columns as in
 * SPAN_COLUMNS) and returns the result as an arquero table.
 */
export async function sql(dir: string, query: string, opts: SqlOptions = {}): Promise<ColumnTable> {
  if (typeof dir !== "string" || dir.length === 0) throw new ValidationError("sql", ["dir: expected a store directory path"]);
  if (typeof query !== "string" || query.trim().length === 0) throw new ValidationError("sql", ["query: expected a SQL string"]);
  checkStoreDir(dir, "sql");
  const scan = await scanSpans(dir, { columns: [] });
  const c = await duckdb();
  try {
    const cols = SPAN_COLUMNS.map((col) => `${col.name} ${col.type}`).join(", ");
    await c.run(`CREATE OR REPLACE TEMP TABLE arclight_wal_spans (${cols})`);
    if (opts.includeWal !== false && scan.wal.length) await appendSpanRows(c, "arclight_wal_spans", scan.wal);
    const names = SPAN_COLUMNS.map((col) => col.name).join(", ");
    const parts = scan.partFiles.length ? `${await partsSql(scan.partFiles)} UNION ALL ` : "";
    await c.run(`CREATE OR REPLACE TEMP VIEW spans AS ${parts}SELECT ${names} FROM arclight_wal_spans`);
    let r;
    try {
      r = await c.runAndReadAll(query);
    } catch (e) {
      throw new ValidationError("sql", [(e as Error).message]);
    }
    const names2 = r.columnNames();
    const data = r.getColumnsJS() as unknown[][];
    const out: Record<string, unknown[]> = {};
    names2.forEach((n, i) => (out[n] = data[i].map(jsValue)));
    return aq.table(out);
  } finally {
    c.closeSync();
  }
}

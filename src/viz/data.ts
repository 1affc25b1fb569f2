// Turning what a user hands a chart or table (arquero table, Arrow table,
// array of records) into plain rows, and rows into values vega-lite embeds.

import { ValidationError } from "../types/errors.js";
import { toJsonText } from "../types/json.js";
import { isArqueroTable } from "../types/table.js";

export type Row = Record<string, unknown>;

export { isArqueroTable, type ArqueroLike } from "../types/table.js";

/** An apache-arrow (or flechette) Table, by shape. */
export interface ArrowLike {
  numRows: number;
  schema: { fields: { name: string; type: unknown }[] };
  toArray(): unknown[];
}

export function isArrowTable(x: unknown): x is ArrowLike {
  const t = x as ArrowLike | null;
  return (
    typeof t === "object" &&
    t !== null &&
    typeof t.numRows === "number" &&
    Array.isArray(t.schema?.fields) &&
    typeof t.toArray === "function"
  );
}

export function isRecordArray(x: unknown): x is Row[] {
  return (
    Array.isArray(x) && x.length > 0 && x.every((r) => typeof r === "object" && r !== null && !Array.isArray(r) && !(r instanceof Date))
  );
}

function arrowRow(r: unknown): Row {
  const o = r as { toJSON?: () => Row };
  return typeof o?.toJSON === "function" ? o.toJSON() : { ...(r as Row) };
}

/** Rows of any supported tabular value; throws ValidationError naming `where` otherwise. */
export function toRows(x: unknown, where: string): Row[] {
  if (isArqueroTable(x)) return x.objects();
  if (isArrowTable(x)) return x.toArray().map(arrowRow);
  if (Array.isArray(x)) {
    if (x.length === 0) return [];
    if (isRecordArray(x)) return x;
  }
  throw new ValidationError(where, ["expected an arquero table, an Arrow table or an array of records"]);
}

/** A value vega-lite can embed in JSON: Dates become epoch ms, bigints numbers, objects JSON text. */
export function chartValue(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (v === undefined) return null;
  if (typeof v === "object" && v !== null) return toJsonText(v);
  return v;
}

export function chartRows(rows: Row[], fields?: string[]): Row[] {
  return rows.map((r) => {
    const out: Row = {};
    for (const k of fields ?? Object.keys(r)) out[k] = chartValue(r[k]);
    return out;
  });
}

export function hasField(rows: Row[], field: string): boolean {
  return rows.some((r) => r[field] !== undefined && r[field] !== null);
}

export function numbers(rows: Row[], field: string): number[] {
  const out: number[] = [];
  for (const r of rows) {
    const v = r[field];
    const n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : v instanceof Date ? v.getTime() : NaN;
    if (Number.isFinite(n)) out.push(n);
  }
  return out;
}

export interface Stats {
  n: number;
  min: number;
  mean: number;
  max: number;
}

export function stats(xs: number[]): Stats | null {
  if (xs.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  return { n: xs.length, min, mean: sum / xs.length, max };
}

/** Linear-interpolated quantile of sorted numbers (q in [0, 1]). */
export function quantileSorted(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a < 1e-12) return "0";
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return Number.isInteger(x) ? String(x) : x.toFixed(a >= 100 ? 1 : 3);
}

// Building arquero tables column by column with one declared type per
// column, so a frame's columns have the same type whatever rows it holds:
// times are Date, counts and measures numbers, absent values null.

import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { declareColumnTypes } from "../types/table.js";
import type { ColumnLike } from "./arrow.js";
import { SPAN_COLUMNS as PARQUET_COLUMNS } from "../store/parquet-layout.js";

export type ColumnKind = "string" | "float64" | "int" | "timestamp" | "boolean" | "json";

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
}

/** A value as a column of `kind` holds it: absent and unusable values become null. */
export function coerce(kind: ColumnKind, v: unknown): unknown {
  if (v === undefined || v === null) return null;
  switch (kind) {
    case "string":
      return typeof v === "string" ? v : String(v);
    case "float64":
    case "int": {
      const n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
      return Number.isFinite(n) ? n : null;
    }
    case "timestamp": {
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
      return epochDate(typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : NaN);
    }
    case "boolean":
      return typeof v === "boolean" ? v : null;
    case "json":
      return v;
  }
}

/** A Date for epoch milliseconds; null for NaN (a time that was not read or not set). */
export function epochDate(ms: number): Date | null {
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** Accumulates rows into typed columns; `table()` hands them to arquero without copying. */
export class ColumnBuilder {
  readonly specs: ColumnSpec[];
  private readonly data: unknown[][];
  private index = new Map<string, number>();

  constructor(specs: readonly ColumnSpec[]) {
    this.specs = [...specs];
    this.data = this.specs.map(() => []);
    this.specs.forEach((s, i) => this.index.set(s.name, i));
  }

  get rows(): number {
    return this.data[0]?.length ?? 0;
  }

  /** Adds a column after the fact (flattened attributes), filled with nulls for earlier rows. */
  addColumn(spec: ColumnSpec): void {
    if (this.index.has(spec.name)) return;
    this.index.set(spec.name, this.specs.length);
    this.specs.push(spec);
    this.data.push(new Array(this.rows).fill(null));
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** Keys not declared are ignored: a frame's schema is what its specs say. */
  push(row: Record<string, unknown>): void {
    this.specs.forEach((s, i) => this.data[i].push(coerce(s.kind, row[s.name])));
  }

  table(): ColumnTable {
    const cols: Record<string, unknown[]> = {};
    this.specs.forEach((s, i) => (cols[s.name] = this.data[i]));
    return typedTable(this.specs, cols);
  }
}

/**
 * An arquero table over ready columns (arrays or lazy Arrow-backed columns
 * whose values already have their spec's kind), with the kinds declared.
 */
export function typedTable(specs: readonly ColumnSpec[], cols: Record<string, ArrayLike<unknown> | ColumnLike<unknown>>): ColumnTable {
  const kinds = Object.fromEntries(specs.map((s) => [s.name, s.kind]));
  const data = Object.fromEntries(specs.map((s) => [s.name, cols[s.name]]));
  const t = declareColumnTypes(aq.table(data as Parameters<typeof aq.table>[0]), kinds);
  DECLARED_KINDS.set(t, kinds);
  return t;
}

const DECLARED_KINDS = new WeakMap<object, Record<string, ColumnKind>>();

/** The kinds of a frame's columns: as declared when built here, else inferred from values (null when all null). */
export function frameSchema(t: ColumnTable): Record<string, ColumnKind | "null"> {
  const declared = DECLARED_KINDS.get(t);
  if (declared) return { ...declared };
  const out: Record<string, ColumnKind | "null"> = {};
  for (const name of t.columnNames()) {
    const col = t.column(name)!;
    let kind: ColumnKind | "null" = "null";
    for (let i = 0; i < col.length; i++) {
      const v = col.at(i);
      if (v === null || v === undefined) continue;
      if (v instanceof Date) kind = "timestamp";
      else if (typeof v === "number") kind = Number.isInteger(v) ? "int" : "float64";
      else if (typeof v === "string") kind = "string";
      else if (typeof v === "boolean") kind = "boolean";
      else kind = "json";
      if (kind !== "int") break;
    }
    out[name] = kind;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The span frame's columns

const KIND_OF_TYPE: Record<string, ColumnKind> = {
  VARCHAR: "string",
  BIGINT: "int",
  DOUBLE: "float64",
  TIMESTAMPTZ: "timestamp",
  BOOLEAN: "boolean",
};
/** Parquet columns that hold JSON text: not base columns of the frame (attributes has its own option). */
const JSON_COLUMNS = new Set(["attributes", "events", "links", "resource"]);

/**
 * The span frame's base columns: the Parquet layout's columns (store/parquet-layout.ts,
 * the one list) minus the JSON text ones, with duration_ms after end_time.
 */
export const SPAN_FRAME_SPECS: readonly ColumnSpec[] = PARQUET_COLUMNS.filter((c) => !JSON_COLUMNS.has(c.name)).flatMap((c) => {
  const spec: ColumnSpec = { name: c.name, kind: KIND_OF_TYPE[c.type] };
  return c.name === "end_time" ? [spec, { name: "duration_ms", kind: "float64" as const }] : [spec];
});
/** Span Parquet columns frames read (all but the JSON text ones). */
export const SPAN_BASE_COLUMNS: readonly string[] = SPAN_FRAME_SPECS.map((c) => c.name).filter((n) => n !== "duration_ms");

// frames.spans: one row per span. A directory's Parquet rows stay Arrow
// columns that arquero reads in place (strings decoded when read, attribute
// JSON parsed per row on first use); the WAL tail and a live store's spans,
// already JS objects, are appended as plain arrays.

import type { ColumnTable } from "arquero";
import { z } from "zod";
import type { Attributes } from "../types/index.js";
import { parseOrThrow } from "../types/validate.js";
import { concat, indexed, mapped, memoized, timeMs, type ColumnLike } from "./arrow.js";
import { coerce, epochDate, SPAN_BASE_COLUMNS, SPAN_FRAME_SPECS, typedTable, type ColumnKind, type ColumnSpec } from "./columns.js";
import { scanSpans } from "./dir-reader.js";
import {
  checkSource,
  loadSpans,
  parseAttributes,
  parseFilter,
  pickedAttributes,
  scanWhere,
  type ParsedFilter,
  walRecords,
  type FrameSource,
  type SpanFilter,
  type SpanRecord,
} from "./source.js";

const FRAME_COLUMN_NAMES = SPAN_FRAME_SPECS.map((c) => c.name) as [string, ...string[]];

const SpanFrameOptionsSchema = z
  .object({
    /** true: every attribute key becomes a column; a list: only those keys. Columns are named by the key. */
    flatten: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
    /** Keep the attributes object column (default true); false skips reading it from Parquet. */
    attributes: z.boolean().optional(),
    /** Only these base columns (and only they are read from Parquet); default all. */
    columns: z.array(z.enum(FRAME_COLUMN_NAMES)).min(1).optional(),
  })
  .strict();
export type SpanFrameOptions = z.input<typeof SpanFrameOptionsSchema>;

function attrKind(v: unknown): ColumnKind {
  if (typeof v === "number") return "float64";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  return "json";
}

const RECORD_FIELD: Record<string, keyof SpanRecord> = {
  rollout_id: "rolloutId",
  attempt_id: "attemptId",
  sequence_id: "sequenceId",
  trace_id: "traceId",
  span_id: "spanId",
  parent_id: "parentId",
  name: "name",
  status_code: "statusCode",
  status_message: "statusMessage",
  reward: "reward",
  model: "model",
  input_tokens: "inputTokens",
  output_tokens: "outputTokens",
  is_llm_call: "isLlmCall",
};

/** The spans a frame is built from, column-wise: Arrow rows of Parquet first, then records. */
export interface SpanColumns {
  rows: number;
  base(name: string): ColumnLike<unknown> | ArrayLike<unknown>;
  startMs: Float64Array;
  endMs: Float64Array;
  attributes: ColumnLike<Attributes | null>;
}

export interface SpanColumnsOptions {
  /** Base columns to read (the others come back null; times NaN). */
  columns: readonly string[];
  /** As loadSpans: true for the whole object, a list of keys for just those (parsed per row on first use), false for none. */
  attributes: boolean | readonly string[];
  /** One predicate in two forms that must agree: SQL for Parquet rows, a function for records (WAL tail, live store). */
  where?: { sql: string; keep: (r: SpanRecord) => boolean };
}

function fromRecords(recs: readonly SpanRecord[]): SpanColumns {
  return {
    rows: recs.length,
    base: (name) => recs.map((r) => r[RECORD_FIELD[name]]),
    startMs: Float64Array.from(recs, (r) => r.startTime),
    endMs: Float64Array.from(recs, (r) => r.endTime),
    attributes: mapped(recs as ArrayLike<SpanRecord>, (r) => r.attributes),
  };
}

function nullColumn(rows: number): ColumnLike<null> {
  return indexed(rows, () => null);
}

async function fromDir(dir: string, filter: ParsedFilter, opts: SpanColumnsOptions): Promise<SpanColumns> {
  const read = opts.columns;
  const keys = Array.isArray(opts.attributes) ? (opts.attributes as readonly string[]) : undefined;
  const scan = await scanSpans(dir, {
    columns: opts.attributes === true ? [...read, "attributes"] : read,
    where: scanWhere(filter, opts.where?.sql),
    attributeKeys: keys,
  });
  const keep = opts.where?.keep;
  const tail = walRecords(scan.wal, filter, opts.attributes !== false).filter((r) => !keep || keep(r));
  const n = scan.parquetRows;
  const times = (col: string, field: "startTime" | "endTime") => {
    const out = new Float64Array(n + tail.length);
    out.set(timeMs(scan.parquet[col], n));
    tail.forEach((r, i) => (out[n + i] = r[field]));
    return out;
  };
  const rowAttributes: ColumnLike<Attributes | null> = keys
    ? indexed(n, pickedAttributes(keys, scan.parquet))
    : mapped((scan.parquet.attributes ?? nullColumn(n)) as ColumnLike<unknown>, parseAttributes);
  return {
    rows: n + tail.length,
    base: (name) => {
      const col = scan.parquet[name] ?? nullColumn(n);
      return concat(
        col as ColumnLike<unknown>,
        tail.map((r) => r[RECORD_FIELD[name]]),
      );
    },
    startMs: read.includes("start_time") ? times("start_time", "startTime") : new Float64Array(n + tail.length).fill(NaN),
    endMs: read.includes("end_time") ? times("end_time", "endTime") : new Float64Array(n + tail.length).fill(NaN),
    // Parsed once per row, and only for the rows something reads.
    attributes: memoized(
      concat(
        rowAttributes,
        tail.map((r) => r.attributes),
      ),
      (a) => a,
    ),
  };
}

/** The spans of `src` that pass `filter` (and `opts.where`) as columns: a directory's Parquet rows stay Arrow, decoded when read. */
export async function spanColumns(src: FrameSource, filter: ParsedFilter, opts: SpanColumnsOptions): Promise<SpanColumns> {
  if (typeof src === "string") return fromDir(src, filter, opts);
  // A store's spans are objects already: the whole attributes object costs nothing more than some keys.
  return fromRecords(await loadSpans(src, filter, { attributes: opts.attributes !== false, keep: opts.where?.keep }));
}

/**
 * One row per span. `{ flatten: true }` adds a column per attribute key
 * (named by the key; a key that clashes with a base column gets an `attr.`
 * prefix); `{ flatten: ["gen_ai.request.model"] }` only those keys, parsed
 * from a row's JSON only when that row is read.
 */
export async function spans(source: FrameSource, filter?: SpanFilter, options: SpanFrameOptions = {}): Promise<ColumnTable> {
  const src = checkSource(source, "frames.spans");
  const f = parseFilter(filter, "frames.spans");
  const opts = parseOrThrow(SpanFrameOptionsSchema, options, "frames.spans options");
  const keepAttrs = opts.attributes ?? true;
  const flatten = opts.flatten ?? false;
  const wanted = opts.columns ? new Set<string>(opts.columns) : null;
  // duration_ms is derived from the two times, so asking for it reads them.
  const read = SPAN_BASE_COLUMNS.filter(
    (c) => !wanted || wanted.has(c) || (wanted.has("duration_ms") && (c === "start_time" || c === "end_time")),
  );
  // Flattening listed keys without the attributes column needs just those keys: DuckDB extracts them.
  const attributes = keepAttrs || flatten === true ? true : Array.isArray(flatten) ? flatten : false;
  const sc = await spanColumns(src, f, { columns: read, attributes });

  const specs: ColumnSpec[] = [...(wanted ? SPAN_FRAME_SPECS.filter((c) => wanted.has(c.name)) : SPAN_FRAME_SPECS)];
  const cols: Record<string, ArrayLike<unknown> | ColumnLike<unknown>> = {};
  for (const s of specs) {
    if (s.name === "start_time") cols[s.name] = mapped(sc.startMs, epochDate);
    else if (s.name === "end_time") cols[s.name] = mapped(sc.endMs, epochDate);
    else if (s.name === "duration_ms") cols[s.name] = sc.endMs.map((e, i) => e - sc.startMs[i]);
    else cols[s.name] = sc.base(s.name);
  }
  if (keepAttrs) {
    specs.push({ name: "attributes", kind: "json" });
    cols.attributes = sc.attributes;
  }
  const base = new Set(specs.map((s) => s.name));
  const colName = (key: string) => (base.has(key) ? `attr.${key}` : key);
  const attrs = sc.attributes;
  if (Array.isArray(flatten)) {
    // Listed keys get a column even when no span has them, so code reading it does not break on an empty run.
    for (const key of flatten) {
      const name = colName(key);
      if (cols[name]) continue;
      let first: unknown;
      for (let i = 0; i < sc.rows && (first === undefined || first === null); i++) first = attrs.at(i)?.[key];
      const kind = first === undefined || first === null ? "json" : attrKind(first);
      specs.push({ name, kind });
      cols[name] = mapped(attrs, (a) => coerce(kind, a?.[key]));
    }
  } else if (flatten === true) {
    // Every key: the keys are only known once every row is parsed.
    const found = new Map<string, { kind: ColumnKind; values: unknown[] }>();
    for (let i = 0; i < sc.rows; i++) {
      const a = attrs.at(i);
      if (!a) continue;
      for (const key in a) {
        const v = a[key];
        if (v === undefined) continue;
        let c = found.get(key);
        if (!c) found.set(key, (c = { kind: attrKind(v), values: new Array(sc.rows).fill(null) }));
        c.values[i] = coerce(c.kind, v);
      }
    }
    for (const [key, c] of found) {
      const name = colName(key);
      if (cols[name]) continue;
      specs.push({ name, kind: c.kind });
      cols[name] = c.values;
    }
  }
  return typedTable(specs, cols);
}

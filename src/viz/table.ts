// Tables in the notebook: arquero tables, Arrow tables and arrays of records
// shown as HTML with column names, types, row count and a head/tail preview.
//
// Frames return plain arquero tables. Rather than patching arquero's
// prototype, this module registers a display formatter (src/display/mime.ts)
// for any value shaped like a table, so a frame displays itself in the kernel
// and arquero stays untouched for everyone else. `table(x)` makes the same
// view explicitly, with preview sizes of one's choosing.

import { registerFormatter } from "../display/mime.js";
import { DISPLAY, type Displayable, type MimeBundle } from "../display/protocol.js";
import { ValidationError } from "../types/errors.js";
import { toJsonText } from "../types/json.js";
import { declaredColumnTypes } from "../types/table.js";
import { isArqueroTable, isArrowTable, isRecordArray, type Row } from "./data.js";

export interface TableOptions {
  /** Rows shown from the top (default 10). */
  head?: number;
  /** Rows shown from the bottom when the table is longer than head + tail (default 5). */
  tail?: number;
  /** Longest cell text before it is cut with an ellipsis (default 80). */
  maxCellChars?: number;
}

export interface TableColumn {
  name: string;
  type: string;
}

/** How a value of a column reads as a type name: float64, int, string, timestamp, boolean, ... */
function valueType(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return "timestamp";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "bigint") return "int64";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return "array";
  return "object";
}

const TYPED_ARRAY_TYPES: [new (...a: never[]) => unknown, string][] = [
  [Float64Array, "float64"],
  [Float32Array, "float32"],
  [Int32Array, "int32"],
  [Int16Array, "int16"],
  [Int8Array, "int8"],
  [Uint32Array, "uint32"],
  [Uint16Array, "uint16"],
  [Uint8Array, "uint8"],
  [BigInt64Array, "int64"],
];

/** Type of a column from its storage when typed, else from its values (int and float mixed read float64). */
export function columnType(values: { at(i: number): unknown; length: number; data?: unknown }, scan = 1000): string {
  // arquero hands back the column array itself; Arrow-backed columns keep it under .data.
  const data = ArrayBuffer.isView(values) ? values : (values as { data?: unknown }).data;
  for (const [ctor, name] of TYPED_ARRAY_TYPES) if (data instanceof ctor) return name;
  const seen = new Set<string>();
  let nulls = 0;
  const n = Math.min(values.length, scan);
  for (let i = 0; i < n; i++) {
    const t = valueType(values.at(i));
    if (t) seen.add(t);
    else nulls++;
  }
  if (seen.size === 0) return nulls ? "null" : "unknown";
  if (seen.size === 2 && seen.has("int") && seen.has("float64")) return "float64";
  if (seen.size === 1) return [...seen][0];
  return [...seen].sort().join("|");
}

// Types a frame builder declared for its columns (frames know a float column
// even when every value happens to be whole); weak so tables still get collected.
export { declareColumnTypes } from "../types/table.js";

interface Preview {
  columns: TableColumn[];
  numRows: number;
  head: Row[];
  tail: Row[];
}

function arrowTypeName(t: unknown): string {
  const s = String(t);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

function arrowRow(r: unknown): Row {
  const o = r as { toJSON?: () => Row } | null;
  return o && typeof o.toJSON === "function" ? o.toJSON() : { ...(r as Row) };
}

function preview(x: unknown, head: number, tail: number): Preview {
  if (isArqueroTable(x)) {
    const numRows = x.numRows();
    const names = x.columnNames();
    const declared = declaredColumnTypes(x);
    const columns = names.map((name) => ({ name, type: declared?.[name] ?? columnType(x.column(name) ?? { at: () => null, length: 0 }) }));
    const showTail = numRows > head + tail ? tail : 0;
    const headRows = x.objects({ limit: showTail ? head : numRows });
    const tailRows = showTail ? x.objects({ offset: numRows - tail, limit: tail }) : [];
    return { columns, numRows, head: headRows, tail: tailRows };
  }
  if (isArrowTable(x)) {
    const numRows = x.numRows;
    const columns = x.schema.fields.map((f) => ({ name: f.name, type: arrowTypeName(f.type) }));
    const t = x as unknown as { slice(b: number, e?: number): { toArray(): unknown[] } };
    const showTail = numRows > head + tail ? tail : 0;
    const headRows = t
      .slice(0, showTail ? head : numRows)
      .toArray()
      .map(arrowRow);
    const tailRows = showTail
      ? t
          .slice(numRows - tail)
          .toArray()
          .map(arrowRow)
      : [];
    return { columns, numRows, head: headRows, tail: tailRows };
  }
  if (Array.isArray(x) && (x.length === 0 || isRecordArray(x))) {
    const rows = x as Row[];
    const names = [...new Set(rows.slice(0, 1000).flatMap((r) => Object.keys(r)))];
    const columns = names.map((name) => ({
      name,
      type: columnType({ at: (i: number) => rows[i]?.[name], length: rows.length }),
    }));
    const showTail = rows.length > head + tail ? tail : 0;
    return {
      columns,
      numRows: rows.length,
      head: rows.slice(0, showTail ? head : rows.length),
      tail: showTail ? rows.slice(rows.length - tail) : [],
    };
  }
  throw new ValidationError("table", ["expected an arquero table, an Arrow table or an array of records"]);
}

function cellText(v: unknown, max: number): string {
  let s: string;
  if (v === null || v === undefined) s = "null";
  else if (v instanceof Date) s = Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
  else if (typeof v === "number") s = Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  else if (typeof v === "string") s = v;
  else if (typeof v === "bigint") s = v.toString();
  else if (typeof v === "object") s = toJsonText(v);
  else s = String(v);
  s = s.replace(/\s+/g, " ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// Store ids (ro-…, at-…: a prefix and 16 hex digits) would wrap at the hyphen and double a row's
// height: shown shortened on one line, the full id on hover.
const STORE_ID = /^([a-z]{2,3})-([0-9a-f]{12,})$/;
const SHORT_ID_HEX = 8;

function cellHTML(v: unknown, max: number): string {
  if (typeof v === "string") {
    const m = STORE_ID.exec(v);
    if (m) return `<td style="white-space:nowrap"><span title="${escapeHtml(v)}">${m[1]}-${m[2]!.slice(0, SHORT_ID_HEX)}…</span></td>`;
  }
  return `<td>${escapeHtml(cellText(v, max))}</td>`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

/** A table view that displays as HTML + text. */
export class TableView implements Displayable {
  readonly columns: TableColumn[];
  readonly numRows: number;
  private readonly p: Preview;
  private readonly max: number;

  constructor(
    readonly source: unknown,
    opts: TableOptions = {},
  ) {
    const head = opts.head ?? 10;
    const tail = opts.tail ?? 5;
    this.max = opts.maxCellChars ?? 80;
    for (const [k, v] of [
      ["head", head],
      ["tail", tail],
      ["maxCellChars", this.max],
    ] as const)
      if (!Number.isInteger(v) || v < 0) throw new ValidationError("table", [`${k} must be a non-negative integer, got ${v}`]);
    this.p = preview(source, head, tail);
    this.columns = this.p.columns;
    this.numRows = this.p.numRows;
  }

  private shape(): string {
    return `${plural(this.numRows, "row")} × ${plural(this.columns.length, "column")}`;
  }

  toHTML(): string {
    const { columns, head, tail, numRows } = this.p;
    const th = columns
      .map(
        (c) =>
          `<th title="${escapeHtml(c.type)}">${escapeHtml(c.name)}<br><span style="font-weight:normal;color:#888">${escapeHtml(c.type)}</span></th>`,
      )
      .join("");
    const row = (r: Row, i: number) =>
      `<tr><th style="color:#888;font-weight:normal">${i}</th>${columns.map((c) => cellHTML(r[c.name], this.max)).join("")}</tr>`;
    const body = [
      ...head.map((r, i) => row(r, i)),
      ...(tail.length
        ? [
            `<tr><td colspan="${columns.length + 1}" style="text-align:center;color:#888">… ${plural(numRows - head.length - tail.length, "more row")} …</td></tr>`,
          ]
        : []),
      ...tail.map((r, i) => row(r, numRows - tail.length + i)),
    ].join("");
    return (
      // A wide table scrolls inside its own box instead of overflowing the notebook column or the report page.
      `<div class="arclight-table" style="overflow-x:auto;max-width:100%"><table class="dataframe" border="1"><thead><tr><th></th>${th}</tr></thead>` +
      `<tbody>${body}</tbody></table><p style="color:#666">${this.shape()}</p></div>`
    );
  }

  toString(): string {
    const { columns, head, tail, numRows } = this.p;
    const max = Math.min(this.max, 40);
    const grid: string[][] = [
      ["", ...columns.map((c) => c.name)],
      ["", ...columns.map((c) => c.type)],
    ];
    head.forEach((r, i) => grid.push([String(i), ...columns.map((c) => cellText(r[c.name], max))]));
    if (tail.length) grid.push(["…", ...columns.map(() => "…")]);
    tail.forEach((r, i) => grid.push([String(numRows - tail.length + i), ...columns.map((c) => cellText(r[c.name], max))]));
    const widths = grid[0].map((_, j) => Math.max(...grid.map((g) => g[j].length)));
    const lines = grid.map((g) =>
      g
        .map((cell, j) => cell.padEnd(widths[j]))
        .join("  ")
        .trimEnd(),
    );
    return [...lines, this.shape()].join("\n");
  }

  [DISPLAY](): MimeBundle {
    return { "text/html": this.toHTML(), "text/plain": this.toString() };
  }
}

/** Wraps an arquero table, Arrow table or array of records for display. */
export function table(x: unknown, opts: TableOptions = {}): TableView {
  return new TableView(x, opts);
}

/** True for values this module displays as tables. */
export function isTabular(x: unknown): boolean {
  return isArqueroTable(x) || isArrowTable(x) || isRecordArray(x);
}

registerFormatter("arclight.table", (v) => (isTabular(v) ? new TableView(v)[DISPLAY]() : undefined));

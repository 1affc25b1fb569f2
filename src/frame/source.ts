// Where frames read from: a live LightningStore (its query methods) or a
// durable store directory read directly (dir-reader.ts). Both yield the same
// SpanRecord shape, so each frame is written once.

import { z } from "zod";
import { promotedColumns } from "../store/parquet-layout.js";
import type { LightningStore } from "../store/lightning-store.js";
import { ValidationError } from "../types/errors.js";
import type { Attempt, Attributes, ResourcesUpdate, Rollout, Span, SpanQuery } from "../types/index.js";
import { parseJsonText } from "../types/json.js";
import { parseOrThrow } from "../types/validate.js";
import { timeMs, values } from "./arrow.js";
import { SPAN_BASE_COLUMNS } from "./columns.js";
import { attributeColumn, checkStoreDir, readDirState, scanSpans, sqlString, type DirState, type ScanResult } from "./dir-reader.js";

/** A live store, or the path of a durable store directory (`runs/x`), possibly still being written. */
export type FrameSource = LightningStore | string;

export function isStore(x: unknown): x is LightningStore {
  const s = x as LightningStore | null;
  return typeof s === "object" && s !== null && typeof s.querySpans === "function" && typeof s.queryRollouts === "function";
}

export function checkSource(src: unknown, where: string): FrameSource {
  if (typeof src === "string") {
    if (src.length === 0) throw new ValidationError(where, ["source: expected a store or a store directory path"]);
    checkStoreDir(src, where);
    return src;
  }
  if (isStore(src)) return src;
  throw new ValidationError(where, ["source: expected a LightningStore or a store directory path"]);
}

const TimeSchema = z.union([z.number(), z.date()]).transform((v) => (v instanceof Date ? v.getTime() : v));

export const SpanFilterSchema = z
  .object({
    rolloutId: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    attemptId: z.string().min(1).optional(),
    name: z.string().optional(),
    /** Prefix match on the span name, e.g. "agentlightning." */
    namePrefix: z.string().optional(),
    /** Spans starting at or after this time (Date or epoch ms). */
    since: TimeSchema.optional(),
    /** Spans starting before this time. */
    until: TimeSchema.optional(),
  })
  .strict();
export type SpanFilter = z.input<typeof SpanFilterSchema>;
export type ParsedFilter = z.output<typeof SpanFilterSchema>;

export function parseFilter(filter: unknown, where: string): ParsedFilter {
  return parseOrThrow(SpanFilterSchema, filter ?? {}, `${where} filter`);
}

/** One span as frames see it; attributes parsed on first use (Parquet keeps them as JSON text). */
export interface SpanRecord {
  rolloutId: string;
  attemptId: string;
  sequenceId: number;
  traceId: string;
  spanId: string;
  parentId: string | null;
  name: string;
  startTime: number;
  endTime: number;
  statusCode: string;
  statusMessage: string | null;
  reward: number | null;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  /** semconv's isLlmCall, as the `is_llm_call` column holds it. */
  isLlmCall: boolean;
  /** Null when the read did not project the attributes column. */
  attributes: Attributes | null;
}

/** Back to the Span shape the adapter takes; events, links and resource are not kept in records. */
export function recordToSpan(r: SpanRecord): Span {
  return {
    rolloutId: r.rolloutId,
    attemptId: r.attemptId,
    sequenceId: r.sequenceId,
    traceId: r.traceId,
    spanId: r.spanId,
    parentId: r.parentId,
    name: r.name,
    status: { statusCode: r.statusCode as Span["status"]["statusCode"], description: r.statusMessage },
    attributes: r.attributes ?? {},
    events: [],
    links: [],
    startTime: r.startTime,
    endTime: r.endTime,
    resource: { attributes: {}, schemaUrl: "" },
  };
}

function fromSpan(s: Span, withAttributes: boolean): SpanRecord {
  const p = promotedColumns(s);
  return {
    rolloutId: s.rolloutId,
    attemptId: s.attemptId,
    sequenceId: s.sequenceId,
    traceId: s.traceId,
    spanId: s.spanId,
    parentId: s.parentId,
    name: s.name,
    startTime: s.startTime,
    endTime: s.endTime,
    statusCode: s.status.statusCode,
    statusMessage: s.status.description ?? null,
    reward: p.reward,
    model: p.model,
    inputTokens: p.inputTokens,
    outputTokens: p.outputTokens,
    isLlmCall: p.isLlmCall,
    attributes: withAttributes ? s.attributes : null,
  };
}

/** The WAL tail's spans as records, filtered as the Parquet scan was. */
export function walRecords(wal: readonly Span[], f: ParsedFilter, withAttributes: boolean): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (const s of wal) {
    const r = fromSpan(s, withAttributes);
    if (matches(r, f)) out.push(r);
  }
  return out;
}

function matches(s: SpanRecord, f: ParsedFilter): boolean {
  if (f.rolloutId !== undefined && (Array.isArray(f.rolloutId) ? !f.rolloutId.includes(s.rolloutId) : s.rolloutId !== f.rolloutId))
    return false;
  if (f.attemptId !== undefined && s.attemptId !== f.attemptId) return false;
  if (f.name !== undefined && s.name !== f.name) return false;
  if (f.namePrefix !== undefined && !s.name.startsWith(f.namePrefix)) return false;
  if (f.since !== undefined && s.startTime < f.since) return false;
  if (f.until !== undefined && s.startTime >= f.until) return false;
  return true;
}

function likePrefix(p: string): string {
  return `${sqlString(`${p.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'`;
}

/** The filter as a SQL predicate DuckDB pushes into the Parquet scan (bare column vs constant, so min/max stats prune row groups). */
export function filterSql(f: ParsedFilter): string[] {
  const out: string[] = [];
  if (f.rolloutId !== undefined) {
    const ids = Array.isArray(f.rolloutId) ? f.rolloutId : [f.rolloutId];
    out.push(ids.length === 0 ? "FALSE" : `rollout_id IN (${ids.map(sqlString).join(", ")})`);
  }
  if (f.attemptId !== undefined) out.push(`attempt_id = ${sqlString(f.attemptId)}`);
  if (f.name !== undefined) out.push(`name = ${sqlString(f.name)}`);
  if (f.namePrefix !== undefined) out.push(`name LIKE ${likePrefix(f.namePrefix)}`);
  if (f.since !== undefined) out.push(`start_time >= to_timestamp(${f.since / 1000})`);
  if (f.until !== undefined) out.push(`start_time < to_timestamp(${f.until / 1000})`);
  return out;
}

/** The filter and an optional extra predicate as one WHERE condition for scanSpans; undefined when there is none. */
export function scanWhere(f: ParsedFilter, extraSql?: string): string | undefined {
  const where = [...filterSql(f), ...(extraSql ? [`(${extraSql})`] : [])];
  return where.length ? where.join(" AND ") : undefined;
}

export interface LoadSpansOptions {
  attributes: boolean;
  /**
   * Parquet columns to read besides attributes (default all base columns).
   * Fields of columns not read come back null (NaN for times); callers only
   * look at what they asked for. Hex ids are the slowest strings to bring into JS.
   */
  columns?: readonly string[];
  /** Extra SQL predicate (a superset of `keep`) that narrows the Parquet scan. */
  prefilterSql?: string;
  /** Exact predicate every record must pass, Parquet and WAL alike. */
  keep?: (s: SpanRecord) => boolean;
}

/** The attributes column's JSON text as an object; anything else (absent, not JSON, not an object) as null. */
export function parseAttributes(v: unknown): Attributes | null {
  const a = typeof v === "string" ? parseJsonText(v) : null;
  return a !== null && typeof a === "object" && !Array.isArray(a) ? (a as Attributes) : null;
}

/** Row i's attributes holding just `keys`, from the JSON texts scanSpans extracted (absent keys left out). */
export function pickedAttributes(keys: readonly string[], parquet: ScanResult["parquet"]): (i: number) => Attributes | null {
  const texts = keys.map((_, k) => parquet[attributeColumn(k)]);
  return (i) => {
    let a: Attributes | null = null;
    for (let k = 0; k < keys.length; k++) {
      const t = texts[k]?.at(i);
      if (typeof t !== "string") continue;
      (a ??= {})[keys[k]] = JSON.parse(t) as Attributes[string];
    }
    return a;
  };
}

function numOrNull(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === "bigint" ? Number(v) : Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Spans of `src` that pass `filter`, in (rollout, attempt, sequence) order for stores and file order for directories. */
export async function loadSpans(src: FrameSource, filter: ParsedFilter, opts: LoadSpansOptions): Promise<SpanRecord[]> {
  let out: SpanRecord[];
  if (typeof src !== "string") {
    const q: SpanQuery = {};
    if (typeof filter.rolloutId === "string") q.rolloutId = filter.rolloutId;
    if (filter.attemptId !== undefined) q.attemptId = filter.attemptId;
    if (filter.name !== undefined) q.name = filter.name;
    if (filter.namePrefix !== undefined) q.namePrefix = filter.namePrefix;
    out = [];
    for (const s of await src.querySpans(q)) {
      const r = fromSpan(s, opts.attributes);
      if (matches(r, filter)) out.push(r);
    }
  } else {
    const base = opts.columns ? SPAN_BASE_COLUMNS.filter((col) => opts.columns!.includes(col)) : [...SPAN_BASE_COLUMNS];
    const columns = opts.attributes ? [...base, "attributes"] : base;
    const scan = await scanSpans(src, { columns, where: scanWhere(filter, opts.prefilterSql) });
    const n = scan.parquetRows;
    const col = (name: string) => values(scan.parquet[name], n);
    const [rid, aid, seq, tid, sid, pid, name, sc, sm, rw, model, it, ot, llm, attrs] = [
      "rollout_id",
      "attempt_id",
      "sequence_id",
      "trace_id",
      "span_id",
      "parent_id",
      "name",
      "status_code",
      "status_message",
      "reward",
      "model",
      "input_tokens",
      "output_tokens",
      "is_llm_call",
      "attributes",
    ].map(col);
    const st = timeMs(scan.parquet.start_time, n);
    const et = timeMs(scan.parquet.end_time, n);
    const str = (v: unknown) => (v as string | null | undefined) ?? null;
    out = new Array<SpanRecord>(n);
    for (let i = 0; i < n; i++) {
      out[i] = {
        rolloutId: str(rid[i]) as string,
        attemptId: str(aid[i]) as string,
        sequenceId: numOrNull(seq[i]) as number,
        traceId: str(tid[i]) as string,
        spanId: str(sid[i]) as string,
        parentId: str(pid[i]),
        name: str(name[i]) as string,
        startTime: st[i],
        endTime: et[i],
        statusCode: str(sc[i]) as string,
        statusMessage: str(sm[i]),
        reward: numOrNull(rw[i]),
        model: str(model[i]),
        inputTokens: numOrNull(it[i]),
        outputTokens: numOrNull(ot[i]),
        isLlmCall: llm[i] === true,
        attributes: opts.attributes ? parseAttributes(attrs[i]) : null,
      };
    }
    for (const r of walRecords(scan.wal, filter, opts.attributes)) out.push(r);
  }
  return opts.keep ? out.filter(opts.keep) : out;
}

/** Rollouts, attempts and resource versions of `src`. */
export async function loadState(src: FrameSource, rolloutIds?: string[]): Promise<DirState> {
  if (typeof src === "string") return readDirState(src);
  const rollouts: Rollout[] = await src.queryRollouts(rolloutIds ? { ids: rolloutIds } : undefined);
  const attempts: Attempt[] = [];
  for (const r of rollouts) attempts.push(...(await src.queryAttempts(r.rolloutId)));
  const resources: ResourcesUpdate[] = await src.queryResources();
  return { rollouts, attempts, resources };
}

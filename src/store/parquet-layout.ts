// The on-disk contract of a durable store directory: where files live and the
// Parquet schema of span part files. Frames and outside engines (DuckDB,
// Spark, pyarrow) read these files directly, so this module is the one place
// that names them.

import { AGL, GEN_AI, isLlmCall } from "../types/semconv.js";
import type { Span } from "../types/span.js";

/**
 * Directory layout of a durable store (`openStore("runs/x")`):
 *
 * ```
 * runs/x/
 *   writer.lock                 pid of the process that writes (readers take no lock)
 *   wal/wal-000007.log          write-ahead log segments, newline-delimited JSON:
 *                               {"c":<crc32>,"r":<payload JSON>} per record, and
 *                               {"c":<crc32>,"b":<bytes>,"r":<payload>} followed by
 *                               one span JSON per line for records with spans
 *   spans/part-000006.parquet   spans of WAL segment 6 (zstd); part N holds
 *                               exactly the spans logged in segment N
 *   snapshot-000006.json        rollouts, attempts, resource versions and
 *                               workers as of the end of segment 6
 *   quarantine/wal-000004.jsonl spans of segment 4 that could not be stored as
 *                               they were (see below), one JSON object a line:
 *                               {"segment","problem","span"}
 * ```
 *
 * Rules a reader can rely on:
 * - The spans of segment N are in `spans/part-N.parquet` once that file
 *   exists (written to a temp name, fsync'd, renamed); until then they are
 *   only in `wal/wal-N.log`. `readWalSpans(dir)` returns exactly the spans of
 *   segments without a part, so `read_parquet('spans/part-*.parquet')` plus
 *   `readWalSpans(dir)` is every acknowledged span, each once.
 * - Segment N is deleted only after `snapshot-N.json` exists; the newest
 *   snapshot plus the segments after it give the full rollout state.
 * - Part files may be empty (a checkpoint with no new spans); they still
 *   carry the schema.
 * - A part file, once it exists, is complete and stays: recovery never
 *   deletes or rewrites one.
 * - Spans an earlier version acknowledged that cannot be stored exactly
 *   (text that is not well-formed Unicode, a time outside what Parquet holds)
 *   are set aside: the writer moves them to `quarantine/` when it folds their
 *   segment, queries and `readWalSpans` skip them, and statistics() counts
 *   them as `quarantinedSpans`.
 */
export const STORE_LAYOUT = {
  lockFile: "writer.lock",
  walDir: "wal",
  spansDir: "spans",
  walFile: (segment: number) => `wal-${pad(segment)}.log`,
  partFile: (segment: number) => `part-${pad(segment)}.parquet`,
  snapshotFile: (segment: number) => `snapshot-${pad(segment)}.json`,
  quarantineDir: "quarantine",
  quarantineFile: (segment: number) => `wal-${pad(segment)}.jsonl`,
  walPattern: /^wal-(\d{6,})\.log$/,
  partPattern: /^part-(\d{6,})\.parquet$/,
  snapshotPattern: /^snapshot-(\d{6,})\.json$/,
  /** Glob for DuckDB: `read_parquet('<dir>/spans/part-*.parquet')`. */
  partsGlob: "spans/part-*.parquet",
} as const;

function pad(n: number): string {
  return String(n).padStart(6, "0");
}

/**
 * Parquet columns of span part files, in file order, with DuckDB types.
 * Times are TIMESTAMPTZ (Parquet TIMESTAMP_MICROS, isAdjustedToUTC=true).
 * attributes, events, links and resource are JSON text; the promoted columns
 * copy single values out of attributes so analyses need no JSON parsing.
 */
export const SPAN_COLUMNS = [
  { name: "rollout_id", type: "VARCHAR", nullable: false },
  { name: "attempt_id", type: "VARCHAR", nullable: false },
  { name: "sequence_id", type: "BIGINT", nullable: false },
  { name: "trace_id", type: "VARCHAR", nullable: false },
  { name: "span_id", type: "VARCHAR", nullable: false },
  { name: "parent_id", type: "VARCHAR", nullable: true },
  { name: "name", type: "VARCHAR", nullable: false },
  { name: "start_time", type: "TIMESTAMPTZ", nullable: false },
  { name: "end_time", type: "TIMESTAMPTZ", nullable: false },
  /** "UNSET" | "OK" | "ERROR" */
  { name: "status_code", type: "VARCHAR", nullable: false },
  { name: "status_message", type: "VARCHAR", nullable: true },
  /** JSON object of attribute key -> value. */
  { name: "attributes", type: "VARCHAR", nullable: false },
  /** JSON array of {name, timestamp (epoch ms), attributes}. */
  { name: "events", type: "VARCHAR", nullable: false },
  /** JSON array of {traceId, spanId, attributes}. */
  { name: "links", type: "VARCHAR", nullable: false },
  /** JSON object {attributes, schemaUrl}. */
  { name: "resource", type: "VARCHAR", nullable: false },
  /** `agentlightning.reward.0.value` of the span, when numeric. */
  { name: "reward", type: "DOUBLE", nullable: true },
  /** `gen_ai.response.model`, else `gen_ai.request.model`. */
  { name: "model", type: "VARCHAR", nullable: true },
  { name: "input_tokens", type: "BIGINT", nullable: true },
  { name: "output_tokens", type: "BIGINT", nullable: true },
  /**
   * semconv's isLlmCall(name, attributes), decided once when the part is
   * written. Parts written before this column existed lack it: readers that
   * need it compute it from name and attributes (frames do), and a DuckDB
   * query over a mix of old and new parts reads them with
   * `read_parquet(..., union_by_name = true)`.
   */
  { name: "is_llm_call", type: "BOOLEAN", nullable: false },
] as const;

export type SpanColumnName = (typeof SPAN_COLUMNS)[number]["name"];
export const SPAN_COLUMN_NAMES: readonly SpanColumnName[] = SPAN_COLUMNS.map((c) => c.name);

/** The promoted analysis columns of a span (nulls where the attribute is absent or not a number). */
export function promotedColumns(span: Pick<Span, "name" | "attributes">): {
  reward: number | null;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  isLlmCall: boolean;
} {
  const a = span.attributes;
  const reward = a[AGL.attrs.rewardPrimary];
  const model = a[GEN_AI.responseModel] ?? a[GEN_AI.requestModel];
  return {
    reward: typeof reward === "number" && Number.isFinite(reward) ? reward : null,
    model: typeof model === "string" ? model : null,
    inputTokens: intOrNull(a[GEN_AI.usageInputTokens]),
    outputTokens: intOrNull(a[GEN_AI.usageOutputTokens]),
    isLlmCall: isLlmCall(span.name, a),
  };
}

function intOrNull(v: unknown): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) ? v : null;
}

export { readWalSpans } from "./wal-spans.js";

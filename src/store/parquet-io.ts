// Span part files through DuckDB: the appender fills a staging table and
// COPY writes zstd Parquet (DESIGN.md: 3.8 s per 1M spans, the fastest
// writer measured with types every engine reads).

import { DuckDBInstance, timestampTZValue, type DuckDBConnection } from "@duckdb/node-api";
import { existsSync, statSync } from "node:fs";
import { rename } from "node:fs/promises";
import type { Span } from "../types/span.js";
import type { ColdSpanQuery } from "./cold-spans.js";
import { fsyncDir, fsyncFile } from "./fs-durable.js";
import { promotedColumns, SPAN_COLUMNS } from "./parquet-layout.js";
import { AGL, GEN_AI } from "../types/semconv.js";
import { llmCallSql } from "../types/semconv-sql.js";

/**
 * Parts are sorted the way querySpans returns spans and cut into small row
 * groups, so a lookup by rollout or attempt skips every row group whose
 * min/max statistics rule it out instead of scanning the whole part.
 */
const PART_OPTIONS = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 8192";

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * Text columns are read back with one guard character in front, cut off in
 * JS: the DuckDB client decodes VARCHARs with a default TextDecoder, which
 * drops a leading U+FEFF (the files hold it; stored text must read back byte
 * for byte). JSON columns start with { or [ and need none.
 */
const guarded = (col: string) => `'|' || ${col}`;
const unguard = (v: unknown) => (v === null ? null : (v as string).slice(1));

/**
 * A sort key whose UTF-8 byte order is the UTF-16 code unit order of `col`:
 * characters U+E000-U+FFFF sort after the surrogate pairs (U+10000 and up)
 * in UTF-16, so each gets U+10FFFF in front of it. (Exact unless an id also
 * holds the noncharacter U+10FFFF followed by a character above U+FFFF.)
 */
const utf16Key = (col: string) => `regexp_replace(${col}, '[\\x{E000}-\\x{FFFF}]', '\u{10FFFF}\\0', 'g')`;
const fileList = (paths: readonly string[]) => `[${paths.map(sqlString).join(", ")}]`;

function rowsToSpans(cols: unknown[][], n: number): Span[] {
  const out = new Array<Span>(n);
  const [rid, aid, seq, tid, sid, pid, name, st, et, sc, sm, attrs, events, links, res] = cols;
  for (let i = 0; i < n; i++) {
    out[i] = {
      rolloutId: unguard(rid[i])!,
      attemptId: unguard(aid[i])!,
      sequenceId: Number(seq[i]),
      traceId: tid[i] as string,
      spanId: sid[i] as string,
      parentId: (pid[i] as string | null) ?? null,
      name: unguard(name[i])!,
      status: { statusCode: sc[i] as Span["status"]["statusCode"], description: unguard(sm[i]) },
      attributes: JSON.parse(attrs[i] as string),
      events: JSON.parse(events[i] as string),
      links: JSON.parse(links[i] as string),
      startTime: Number(st[i]) / 1000,
      endTime: Number(et[i]) / 1000,
      resource: JSON.parse(res[i] as string),
    };
  }
  return out;
}

/** Time in epoch ms -> integer microseconds, the Parquet unit. */
export const toMicros = (ms: number) => BigInt(Math.round(ms * 1000));

/** Appends spans as rows of a table created with SPAN_COLUMNS (the Parquet layout), in column order. */
export async function appendSpanRows(c: DuckDBConnection, table: string, spans: readonly Span[]): Promise<void> {
  const ap = await c.createAppender(table);
  for (const s of spans) {
    const p = promotedColumns(s);
    ap.appendVarchar(s.rolloutId);
    ap.appendVarchar(s.attemptId);
    ap.appendBigInt(BigInt(s.sequenceId));
    ap.appendVarchar(s.traceId);
    ap.appendVarchar(s.spanId);
    if (s.parentId === null) ap.appendNull();
    else ap.appendVarchar(s.parentId);
    ap.appendVarchar(s.name);
    ap.appendTimestampTZ(timestampTZValue(toMicros(s.startTime)));
    ap.appendTimestampTZ(timestampTZValue(toMicros(s.endTime)));
    ap.appendVarchar(s.status.statusCode);
    if (s.status.description == null) ap.appendNull();
    else ap.appendVarchar(s.status.description);
    ap.appendVarchar(JSON.stringify(s.attributes));
    ap.appendVarchar(JSON.stringify(s.events));
    ap.appendVarchar(JSON.stringify(s.links));
    ap.appendVarchar(JSON.stringify(s.resource));
    if (p.reward === null) ap.appendNull();
    else ap.appendDouble(p.reward);
    if (p.model === null) ap.appendNull();
    else ap.appendVarchar(p.model);
    if (p.inputTokens === null) ap.appendNull();
    else ap.appendBigInt(BigInt(p.inputTokens));
    if (p.outputTokens === null) ap.appendNull();
    else ap.appendBigInt(BigInt(p.outputTokens));
    ap.appendBoolean(p.isLlmCall);
    ap.endRow();
  }
  ap.closeSync();
}

export class SpanParquetIO {
  private conn: Promise<DuckDBConnection> | null = null;
  private instance: DuckDBInstance | null = null;
  private staging = 0;

  private connection(): Promise<DuckDBConnection> {
    this.conn ??= (async () => {
      // One thread: checkpoints run beside ingest, which keeps its own core.
      // enable_object_cache keeps part footers between queries: a rollout lookup then reads one small row group.
      this.instance = await DuckDBInstance.create(":memory:", { threads: "1", enable_object_cache: "true" });
      const c = await this.instance.connect();
      return c;
    })();
    return this.conn;
  }

  /** Writes `spans` to `path` atomically (temp file, fsync, rename, fsync dir). */
  async writePart(path: string, spans: readonly Span[]): Promise<void> {
    const c = await this.connection();
    const table = `staging_${++this.staging}`;
    await c.run(`CREATE TEMP TABLE ${table} (${SPAN_COLUMNS.map((col) => `${col.name} ${col.type}`).join(", ")})`);
    try {
      await appendSpanRows(c, table, spans);
      const tmp = `${path}.tmp`;
      await c.run(`COPY (FROM ${table} ORDER BY rollout_id, attempt_id, sequence_id) TO ${sqlString(tmp)} (${PART_OPTIONS})`);
      await fsyncFile(tmp);
      await rename(tmp, path);
      await fsyncDir(path);
    } finally {
      await c.run(`DROP TABLE IF EXISTS ${table}`);
    }
  }

  /**
   * The part for one WAL segment: every span its records hold (a missing
   * segment has none). DuckDB reads the segment's span lines as
   * newline-delimited JSON and writes the Parquet itself, on its own thread.
   * The segment must be sealed and whole (torn tails are cut on open before a
   * segment is sealed), and in the current record format: segments with
   * spans inside record payloads (the first format) go through writePart.
   */
  async writePartFromWal(walPath: string | null, partPath: string): Promise<void> {
    if (walPath === null || !existsSync(walPath) || statSync(walPath).size === 0) return this.writePart(partPath, []);
    const c = await this.connection();
    const tmp = `${partPath}.tmp`;
    await c.run(`COPY (${walSpansSql(walPath)} ORDER BY rollout_id, attempt_id, sequence_id) TO ${sqlString(tmp)} (${PART_OPTIONS})`);
    await fsyncFile(tmp);
    await rename(tmp, partPath);
    await fsyncDir(partPath);
  }

  /**
   * Spans of the given part files matching `q`, ordered by (rollout, attempt,
   * sequence id). `utf16Order`: order rollout ids as JS compares strings
   * (UTF-16 code units), which differs from DuckDB's (UTF-8 bytes, code
   * points) once ids mix characters above U+FFFF with U+E000-U+FFFF; the
   * store's in-memory order is JS's, and merged answers must agree.
   */
  async queryParts(paths: readonly string[], q: ColdSpanQuery, utf16Order = false): Promise<Span[]> {
    if (!paths.length || (q.attemptIds !== null && !q.attemptIds.length)) return [];
    // Text goes in as parameters, never inside the SQL: DuckDB's parser ends a literal at a NUL character.
    const where: string[] = [];
    const values: string[] = [];
    const param = (v: string) => `$${values.push(v)}`;
    if (q.rolloutId !== undefined) where.push(`rollout_id = ${param(q.rolloutId)}`);
    if (q.attemptIds !== null) where.push(`attempt_id IN (${q.attemptIds.map(param).join(", ")})`);
    if (q.name !== undefined) where.push(`name = ${param(q.name)}`);
    if (q.namePrefix !== undefined) where.push(`starts_with(name, ${param(q.namePrefix)})`);
    if (q.minSequenceId !== undefined) where.push(`sequence_id >= ${Math.trunc(q.minSequenceId)}`);
    const c = await this.connection();
    const r = await c.runAndReadAll(
      `SELECT ${guarded("rollout_id")}, ${guarded("attempt_id")}, sequence_id, trace_id, span_id, parent_id, ${guarded("name")}, epoch_us(start_time) AS start_us, epoch_us(end_time) AS end_us,
              status_code, ${guarded("status_message")}, attributes, events, links, resource
       FROM read_parquet(${fileList(paths)})
       ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY ${utf16Order ? utf16Key("rollout_id") : "rollout_id"}, attempt_id, sequence_id
       ${q.limit !== undefined ? `LIMIT ${Math.trunc(q.limit)}` : ""}`,
      values,
    );
    return rowsToSpans(r.getColumnsJS() as unknown[][], r.currentRowCount);
  }

  /** Per part file and attempt: how many spans it holds and the largest sequence id. */
  async summarizeParts(paths: readonly string[]): Promise<{ path: string; attemptId: string; maxSeq: number; count: number }[]> {
    if (!paths.length) return [];
    const c = await this.connection();
    const r = await c.runAndReadAll(
      `SELECT filename, ${guarded("attempt_id")}, max(sequence_id) AS mx, count(*) AS n FROM read_parquet(${fileList(paths)}, filename = true) GROUP BY filename, attempt_id`,
    );
    return (r.getRowsJS() as [string, string, bigint, bigint][]).map(([path, attemptId, mx, n]) => ({
      path,
      attemptId: unguard(attemptId)!,
      maxSeq: Number(mx),
      count: Number(n),
    }));
  }

  close(): void {
    if (!this.conn) return;
    void this.conn.then((c) => c.closeSync()).catch(() => {});
    this.instance?.closeSync();
    this.conn = null;
    this.instance = null;
  }
}

const numberTypes = "('DOUBLE', 'BIGINT', 'UBIGINT')";
const intTypes = "('BIGINT', 'UBIGINT')";

/**
 * The JSON fields of a span line in a WAL segment (see wal.ts), as DuckDB
 * types, so read_json parses each line once into typed columns. Header
 * lines have none of these keys and come out with a null spanId.
 */
const SPAN_LINE_COLUMNS =
  "{rolloutId: 'VARCHAR', attemptId: 'VARCHAR', sequenceId: 'BIGINT', traceId: 'VARCHAR', spanId: 'VARCHAR', parentId: 'VARCHAR', name: 'VARCHAR', " +
  "startTime: 'DOUBLE', endTime: 'DOUBLE', status: 'STRUCT(statusCode VARCHAR, description VARCHAR)', attributes: 'JSON', events: 'JSON', links: 'JSON', resource: 'JSON'}";

/** SELECT of SPAN_COLUMNS over a WAL segment; mirrors promotedColumns() for the analysis columns. */
function walSpansSql(walPath: string): string {
  const key = (k: string) => `'$."${k}"'`;
  const num = (k: string, type: string, types: string) =>
    `CASE WHEN json_type(attributes, ${key(k)}) IN ${types} THEN (attributes->>${key(k)})::${type} END`;
  const str = (k: string) => `CASE WHEN json_type(attributes, ${key(k)}) = 'VARCHAR' THEN attributes->>${key(k)} END`;
  const ts = (field: string) => `make_timestamptz(round(${field} * 1000)::BIGINT)`;
  return `
    SELECT
      rolloutId AS rollout_id,
      attemptId AS attempt_id,
      sequenceId AS sequence_id,
      traceId AS trace_id,
      spanId AS span_id,
      parentId AS parent_id,
      name,
      ${ts("startTime")} AS start_time,
      ${ts("endTime")} AS end_time,
      status.statusCode AS status_code,
      status.description AS status_message,
      attributes::VARCHAR AS attributes,
      events::VARCHAR AS events,
      links::VARCHAR AS links,
      resource::VARCHAR AS resource,
      ${num(AGL.attrs.rewardPrimary, "DOUBLE", numberTypes)} AS reward,
      COALESCE(${str(GEN_AI.responseModel)}, ${str(GEN_AI.requestModel)})::VARCHAR AS model,
      ${num(GEN_AI.usageInputTokens, "BIGINT", intTypes)} AS input_tokens,
      ${num(GEN_AI.usageOutputTokens, "BIGINT", intTypes)} AS output_tokens,
      ${llmCallSql({ name: "name", attributes: "attributes::VARCHAR" })} AS is_llm_call
    FROM read_json(${sqlString(walPath)}, format = 'newline_delimited', columns = ${SPAN_LINE_COLUMNS}, maximum_object_size = 1073741824)
    WHERE spanId IS NOT NULL`;
}

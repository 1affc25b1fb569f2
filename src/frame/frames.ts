// Frames: the store's rollouts, attempts, spans, rewards and LLM calls as
// arquero tables with typed columns, from a live store or a directory.
// Column names are snake_case, as in the Parquet files and DuckDB.

import type { ColumnTable } from "arquero";
import { AdapterOptionsSchema, spansToTriplets, type AdapterOptions } from "../adapter/triplets.js";
import { ValidationError } from "../types/errors.js";
import type { Attempt, Attributes, Rollout } from "../types/index.js";
import { AGL, GEN_AI } from "../types/semconv.js";
import { parseJsonText, toJsonText } from "../types/json.js";
import { parseOrThrow } from "../types/validate.js";
import { indexed, mapped, memoized, reader, type ColumnLike } from "./arrow.js";
import { ColumnBuilder, epochDate, typedTable, type ColumnSpec } from "./columns.js";
import type { DirState } from "./dir-reader.js";
import { RESCORED_ATTR, rewardEntries } from "./rewards.js";
import { spanColumns } from "./span-frame.js";
import {
  checkSource,
  loadSpans,
  loadState,
  parseFilter,
  type FrameSource,
  type SpanFilter,
  type SpanRecord,
  recordToSpan as toSpan,
} from "./source.js";

export type { FrameSource, SpanFilter } from "./source.js";

export { spans, type SpanFrameOptions } from "./span-frame.js";

// ---------------------------------------------------------------------------
// Shared lookups: step and resources version of a rollout.

/**
 * The training step of a rollout: `metadata.step` when the algorithm set
 * it, else the 1-based position of its resources id among all resource ids
 * by creation time (each trainer update publishes a new id), else null.
 */
export interface RolloutContext {
  rollout: Rollout;
  step: number | null;
  resourcesIndex: number | null;
  attempts: Attempt[];
}

function contexts(state: DirState): Map<string, RolloutContext> {
  const firstSeen = new Map<string, number>();
  for (const r of [...state.resources].sort((a, b) => a.createTime - b.createTime))
    if (!firstSeen.has(r.resourcesId)) firstSeen.set(r.resourcesId, firstSeen.size + 1);
  const byRollout = new Map<string, Attempt[]>();
  for (const a of state.attempts) {
    let list = byRollout.get(a.rolloutId);
    if (!list) byRollout.set(a.rolloutId, (list = []));
    list.push(a);
  }
  const out = new Map<string, RolloutContext>();
  for (const r of state.rollouts) {
    const resourcesIndex = r.resourcesId ? (firstSeen.get(r.resourcesId) ?? null) : null;
    const ms = r.metadata?.step;
    const step = typeof ms === "number" && Number.isFinite(ms) ? ms : resourcesIndex;
    const attempts = (byRollout.get(r.rolloutId) ?? []).sort((a, b) => a.sequenceId - b.sequenceId);
    out.set(r.rolloutId, { rollout: r, step, resourcesIndex, attempts });
  }
  return out;
}

function attemptSeq(ctx: Map<string, RolloutContext>, rolloutId: string, attemptId: string): number {
  return ctx.get(rolloutId)?.attempts.find((a) => a.attemptId === attemptId)?.sequenceId ?? 0;
}

function duration(start: number | null, end: number | null): number | null {
  return start !== null && end !== null ? end - start : null;
}

// ---------------------------------------------------------------------------
// rollouts and attempts

const ROLLOUT_COLUMNS: ColumnSpec[] = [
  { name: "rollout_id", kind: "string" },
  { name: "status", kind: "string" },
  { name: "mode", kind: "string" },
  { name: "resources_id", kind: "string" },
  { name: "step", kind: "int" },
  { name: "start_time", kind: "timestamp" },
  { name: "end_time", kind: "timestamp" },
  { name: "duration_ms", kind: "float64" },
  { name: "attempts", kind: "int" },
  { name: "input", kind: "json" },
  { name: "metadata", kind: "json" },
];

/** One row per rollout, oldest first. */
export async function rollouts(source: FrameSource): Promise<ColumnTable> {
  const src = checkSource(source, "frames.rollouts");
  const ctx = contexts(await loadState(src));
  const b = new ColumnBuilder(ROLLOUT_COLUMNS);
  const list = [...ctx.values()].sort((a, b2) => a.rollout.startTime - b2.rollout.startTime);
  for (const { rollout: r, step, attempts: at } of list) {
    b.push({
      rollout_id: r.rolloutId,
      status: r.status,
      mode: r.mode,
      resources_id: r.resourcesId,
      step,
      start_time: r.startTime,
      end_time: r.endTime,
      duration_ms: duration(r.startTime, r.endTime),
      attempts: at.length,
      input: r.input,
      metadata: r.metadata,
    });
  }
  return b.table();
}

const ATTEMPT_COLUMNS: ColumnSpec[] = [
  { name: "rollout_id", kind: "string" },
  { name: "attempt_id", kind: "string" },
  { name: "sequence_id", kind: "int" },
  { name: "status", kind: "string" },
  { name: "worker_id", kind: "string" },
  { name: "start_time", kind: "timestamp" },
  { name: "end_time", kind: "timestamp" },
  { name: "duration_ms", kind: "float64" },
  { name: "last_heartbeat_time", kind: "timestamp" },
  { name: "metadata", kind: "json" },
];

/** One row per attempt, by rollout then attempt number. */
export async function attempts(source: FrameSource): Promise<ColumnTable> {
  const src = checkSource(source, "frames.attempts");
  const state = await loadState(src);
  const b = new ColumnBuilder(ATTEMPT_COLUMNS);
  const order = new Map(state.rollouts.map((r) => [r.rolloutId, r.startTime]));
  const list = [...state.attempts].sort(
    (a, c) =>
      (order.get(a.rolloutId) ?? 0) - (order.get(c.rolloutId) ?? 0) ||
      a.rolloutId.localeCompare(c.rolloutId) ||
      a.sequenceId - c.sequenceId,
  );
  for (const a of list) {
    b.push({
      rollout_id: a.rolloutId,
      attempt_id: a.attemptId,
      sequence_id: a.sequenceId,
      status: a.status,
      worker_id: a.workerId,
      start_time: a.startTime,
      end_time: a.endTime,
      duration_ms: duration(a.startTime, a.endTime),
      last_heartbeat_time: a.lastHeartbeatTime,
      metadata: a.metadata,
    });
  }
  return b.table();
}

// ---------------------------------------------------------------------------
// rewards

export const REWARD_SQL = `(name = '${AGL.spans.reward}' OR reward IS NOT NULL)`;

export function isRewardRecord(s: SpanRecord): boolean {
  return s.name === AGL.spans.reward || s.reward !== null;
}

const REWARD_COLUMNS: ColumnSpec[] = [
  { name: "rollout_id", kind: "string" },
  { name: "attempt_id", kind: "string" },
  { name: "attempt_sequence", kind: "int" },
  { name: "span_id", kind: "string" },
  { name: "sequence_id", kind: "int" },
  { name: "dimension", kind: "string" },
  { name: "value", kind: "float64" },
  { name: "primary", kind: "boolean" },
  { name: "rescored", kind: "boolean" },
  { name: "step", kind: "int" },
  { name: "resources_id", kind: "string" },
  { name: "mode", kind: "string" },
  { name: "time", kind: "timestamp" },
];

const REWARD_READ = ["rollout_id", "attempt_id", "span_id", "sequence_id", "name", "start_time", "reward"];

/** One row per reward dimension of every reward span, ordered by time. */
export async function rewards(source: FrameSource, filter?: SpanFilter): Promise<ColumnTable> {
  const src = checkSource(source, "frames.rewards");
  const f = parseFilter(filter, "frames.rewards");
  // Only the columns this frame reads cross over: hex trace and parent ids are the costliest strings.
  const recs = await loadSpans(src, f, { attributes: true, prefilterSql: REWARD_SQL, keep: isRewardRecord, columns: REWARD_READ });
  const ctx = contexts(await loadState(src));
  recs.sort((a, b) => a.startTime - b.startTime || a.sequenceId - b.sequenceId);
  const b = new ColumnBuilder(REWARD_COLUMNS);
  for (const r of recs) {
    const c = ctx.get(r.rolloutId);
    const rescored = r.attributes?.[RESCORED_ATTR] === true;
    for (const e of rewardEntries(r.attributes, r.reward)) {
      b.push({
        rollout_id: r.rolloutId,
        attempt_id: r.attemptId,
        attempt_sequence: attemptSeq(ctx, r.rolloutId, r.attemptId),
        span_id: r.spanId,
        sequence_id: r.sequenceId,
        dimension: e.dimension,
        value: e.value,
        primary: e.primary,
        rescored,
        step: c?.step ?? null,
        resources_id: c?.rollout.resourcesId ?? null,
        mode: c?.rollout.mode ?? null,
        time: r.startTime,
      });
    }
  }
  return b.table();
}

// ---------------------------------------------------------------------------
// LLM calls

/** The span-file predicate of isLlmRecord: the column the writer fills with semconv's rule (old parts get it computed, dir-reader.ts). */
export const LLM_SQL = "is_llm_call";

/** Is this record an LLM call (semconv's isLlmCall, decided when the span was stored)? */
export function isLlmRecord(s: SpanRecord): boolean {
  return s.isLlmCall;
}

function contentText(c: unknown): string | null {
  if (typeof c === "string") return c;
  if (Array.isArray(c)) {
    const parts = c.map((p) =>
      typeof p === "string"
        ? p
        : p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string"
          ? (p as { text: string }).text
          : null,
    );
    const text = parts.filter((p): p is string => p !== null);
    return text.length ? text.join("") : null;
  }
  return null;
}

/** Chat messages as one readable text: "role: content" per message. */
export function messagesText(messages: unknown): string | null {
  const m = parseJsonText(messages);
  if (typeof m === "string") return m;
  if (!Array.isArray(m)) return null;
  return m
    .map((x) => {
      if (!x || typeof x !== "object") return String(x);
      const o = x as { role?: unknown; content?: unknown };
      const text = contentText(o.content) ?? (o.content === undefined ? "" : toJsonText(o.content));
      return typeof o.role === "string" ? `${o.role}: ${text}` : text;
    })
    .join("\n");
}

function responseText(attrs: Attributes | null): string | null {
  const out = parseJsonText(attrs?.[GEN_AI.outputMessages]);
  if (Array.isArray(out)) {
    const texts = out.map((o) =>
      o && typeof o === "object" ? contentText((o as { content?: unknown }).content) : typeof o === "string" ? o : null,
    );
    const t = texts.filter((x): x is string => x !== null);
    return t.length ? t.join("\n") : null;
  }
  return typeof out === "string" ? out : null;
}

const LLM_COLUMNS: ColumnSpec[] = [
  { name: "rollout_id", kind: "string" },
  { name: "attempt_id", kind: "string" },
  { name: "span_id", kind: "string" },
  { name: "sequence_id", kind: "int" },
  { name: "agent_name", kind: "string" },
  { name: "model", kind: "string" },
  { name: "prompt", kind: "string" },
  { name: "response", kind: "string" },
  { name: "input_tokens", kind: "int" },
  { name: "output_tokens", kind: "int" },
  { name: "total_tokens", kind: "int" },
  { name: "latency_ms", kind: "float64" },
  { name: "finish_reason", kind: "string" },
  { name: "status_code", kind: "string" },
  { name: "step", kind: "int" },
  { name: "resources_id", kind: "string" },
  { name: "start_time", kind: "timestamp" },
];

const LLM_READ = [
  "rollout_id",
  "attempt_id",
  "span_id",
  "sequence_id",
  "name",
  "start_time",
  "end_time",
  "status_code",
  "model",
  "input_tokens",
  "output_tokens",
  "is_llm_call",
];

/** The attribute keys llmCalls reads. */
const LLM_ATTRS = [GEN_AI.inputMessages, GEN_AI.outputMessages, GEN_AI.responseFinishReasons, AGL.attrs.agentName];

/** Row positions ordered by start time, then sequence id; null when they already are (Parquet parts usually are). */
function startOrder(startMs: Float64Array, seq: ColumnLike<unknown> | ArrayLike<unknown>): Uint32Array | null {
  const n = startMs.length;
  const at = reader(seq);
  const seqs = Float64Array.from({ length: n }, (_, i) => Number(at(i)));
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = startMs[i - 1] < startMs[i] || (startMs[i - 1] === startMs[i] && seqs[i - 1] <= seqs[i]);
  if (sorted) return null;
  return Uint32Array.from({ length: n }, (_, i) => i).sort((x, y) => startMs[x] - startMs[y] || seqs[x] - seqs[y]);
}

/**
 * One row per LLM call (spans with GenAI attributes): model, prompt and
 * response text, tokens, latency, agent. Over a directory the columns stay
 * Arrow-backed: ids decode and prompt/response text renders when a row is read.
 */
export async function llmCalls(source: FrameSource, filter?: SpanFilter): Promise<ColumnTable> {
  const src = checkSource(source, "frames.llmCalls");
  const f = parseFilter(filter, "frames.llmCalls");
  const sc = await spanColumns(src, f, { columns: LLM_READ, attributes: LLM_ATTRS, where: { sql: LLM_SQL, keep: isLlmRecord } });
  const ctx = contexts(await loadState(src));
  const order = startOrder(sc.startMs, sc.base("sequence_id"));
  const col = <T>(c: ColumnLike<T> | ArrayLike<T>): ColumnLike<T> => {
    const at = reader(c);
    return order ? mapped(order, at) : indexed(sc.rows, at);
  };
  const attrs = col(sc.attributes);
  const attr = <T>(f: (a: Attributes | null) => T) => memoized(attrs, f);
  const rolloutId = col(sc.base("rollout_id")) as ColumnLike<string>;
  const inTok = col(sc.base("input_tokens")) as ColumnLike<number | null>;
  const outTok = col(sc.base("output_tokens")) as ColumnLike<number | null>;
  const start = (i: number) => sc.startMs[order ? order[i] : i];
  const end = (i: number) => sc.endMs[order ? order[i] : i];
  return typedTable(LLM_COLUMNS, {
    rollout_id: rolloutId,
    attempt_id: col(sc.base("attempt_id")),
    span_id: col(sc.base("span_id")),
    sequence_id: col(sc.base("sequence_id")),
    agent_name: attr((a) => {
      const agent = a?.[AGL.attrs.agentName];
      return typeof agent === "string" ? agent : null;
    }),
    model: col(sc.base("model")),
    prompt: attr((a) => messagesText(a?.[GEN_AI.inputMessages])),
    response: attr(responseText),
    input_tokens: inTok,
    output_tokens: outTok,
    total_tokens: indexed(sc.rows, (i) => {
      const x = inTok.at(i);
      const y = outTok.at(i);
      return x !== null || y !== null ? (x ?? 0) + (y ?? 0) : null;
    }),
    latency_ms: Float64Array.from({ length: sc.rows }, (_, i) => end(i) - start(i)),
    finish_reason: attr((a) => {
      const finish = a?.[GEN_AI.responseFinishReasons];
      return Array.isArray(finish) ? finish.join(",") : typeof finish === "string" ? finish : null;
    }),
    status_code: col(sc.base("status_code")),
    step: mapped(rolloutId, (id) => ctx.get(id)?.step ?? null),
    resources_id: mapped(rolloutId, (id) => ctx.get(id)?.rollout.resourcesId ?? null),
    start_time: indexed(sc.rows, (i) => epochDate(start(i))),
  });
}

// ---------------------------------------------------------------------------
// triplets

const TRIPLET_COLUMNS: ColumnSpec[] = [
  { name: "rollout_id", kind: "string" },
  { name: "attempt_id", kind: "string" },
  { name: "sequence_id", kind: "int" },
  { name: "span_id", kind: "string" },
  { name: "agent_name", kind: "string" },
  { name: "model", kind: "string" },
  { name: "prompt", kind: "string" },
  { name: "response", kind: "string" },
  { name: "prompt_token_ids", kind: "json" },
  { name: "response_token_ids", kind: "json" },
  { name: "response_logprobs", kind: "json" },
  { name: "prompt_length", kind: "int" },
  { name: "response_length", kind: "int" },
  { name: "reward", kind: "float64" },
  { name: "step", kind: "int" },
];

/**
 * The adapter's (prompt, response, reward) triplets of each rollout's latest
 * attempt that has spans, one row per LLM call, through src/adapter's
 * spansToTriplets with the same options.
 */
export async function triplets(source: FrameSource, adapterOptions: AdapterOptions = {}, filter?: SpanFilter): Promise<ColumnTable> {
  const src = checkSource(source, "frames.triplets");
  parseOrThrow(AdapterOptionsSchema, adapterOptions, "frames.triplets adapterOptions");
  const f = parseFilter(filter, "frames.triplets");
  const recs = await loadSpans(src, f, {
    attributes: true,
    prefilterSql: `(${LLM_SQL} OR ${REWARD_SQL})`,
    keep: (s) => isLlmRecord(s) || isRewardRecord(s),
  });
  const ctx = contexts(await loadState(src));
  const byAttempt = new Map<string, SpanRecord[]>();
  for (const r of recs) {
    const k = `${r.rolloutId}\u0000${r.attemptId}`;
    let l = byAttempt.get(k);
    if (!l) byAttempt.set(k, (l = []));
    l.push(r);
  }
  const latest = new Map<string, { seq: number; spans: SpanRecord[] }>();
  for (const list of byAttempt.values()) {
    const { rolloutId, attemptId } = list[0];
    const seq = attemptSeq(ctx, rolloutId, attemptId);
    const cur = latest.get(rolloutId);
    if (!cur || seq > cur.seq) latest.set(rolloutId, { seq, spans: list });
  }
  const order = [...latest.keys()].sort((a, b) => (ctx.get(a)?.rollout.startTime ?? 0) - (ctx.get(b)?.rollout.startTime ?? 0));
  const b = new ColumnBuilder(TRIPLET_COLUMNS);
  for (const id of order) {
    for (const t of spansToTriplets(latest.get(id)!.spans.map(toSpan), adapterOptions)) {
      b.push({
        rollout_id: t.rolloutId,
        attempt_id: t.attemptId,
        sequence_id: t.sequenceId,
        span_id: t.spanId,
        agent_name: t.agentName,
        model: t.model,
        prompt: messagesText(t.prompt.messages),
        response: t.response.text,
        prompt_token_ids: t.prompt.tokenIds,
        response_token_ids: t.response.tokenIds,
        response_logprobs: t.response.logprobs,
        prompt_length: t.prompt.tokenIds?.length ?? null,
        response_length: t.response.tokenIds?.length ?? null,
        reward: t.reward,
        step: ctx.get(id)?.step ?? null,
      });
    }
  }
  return b.table();
}

// ---------------------------------------------------------------------------
// internals shared with helpers.ts and rescore.ts

export { contexts as rolloutContexts };
export function checkColumns(t: ColumnTable, cols: string[], where: string): void {
  const have = new Set(t.columnNames());
  const missing = cols.filter((c) => !have.has(c));
  if (missing.length) throw new ValidationError(where, [`frame lacks column(s) ${missing.join(", ")} (has ${[...have].join(", ")})`]);
}

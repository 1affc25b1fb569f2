// An algorithm's own record in the store: a rollout (metadata.kind
// "algorithm") whose spans are its decisions (candidates, critiques, scores,
// rounds) and its own LLM calls, so frames read them like any agent trace
// and a stopped run can be picked up from them.
import { randomBytes } from "node:crypto";
import type { LightningStore } from "../store/lightning-store.js";
import type { AttributeValue, Attributes, Span } from "../types/index.js";
import { toJsonText } from "../types/json.js";
import { TraceScope } from "../tracer/index.js";
import { pointSpan } from "./metrics.js";

export const ROW_PREFIX = "arclight.row.";

export class AlgorithmLog {
  readonly traceId = randomBytes(16).toString("hex");
  /** Spans started inside `withScope(log.scope, ...)` (the optimizer's openai calls) land in this rollout. */
  readonly scope: TraceScope;
  private constructor(
    private readonly store: LightningStore,
    readonly rolloutId: string,
    readonly attemptId: string,
    algorithm: string,
  ) {
    this.scope = new TraceScope(store, rolloutId, attemptId, algorithm);
  }

  static async open(
    store: LightningStore,
    algorithm: string,
    config: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ): Promise<AlgorithmLog> {
    const ar = await store.startRollout({ input: { algorithm, config }, metadata: { ...metadata, kind: "algorithm", algorithm } });
    await store.updateAttempt(ar.rolloutId, ar.attempt.attemptId, { status: "running" });
    return new AlgorithmLog(store, ar.rolloutId, ar.attempt.attemptId, algorithm);
  }

  /** One row: a zero-length span named `name` with each field as `arclight.row.<field>` (objects as JSON). */
  async record(name: string, row: Record<string, unknown>): Promise<Span> {
    const attributes: Attributes = {};
    for (const [k, v] of Object.entries(row)) attributes[ROW_PREFIX + k] = toAttribute(v);
    return this.store.addSpan(pointSpan(this, name, attributes));
  }

  async close(error: unknown = null): Promise<void> {
    await this.scope.flush().catch(() => {});
    await this.store.updateAttempt(this.rolloutId, this.attemptId, { status: error ? "failed" : "succeeded", endTime: Date.now() });
  }
}

function toAttribute(v: unknown): AttributeValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  if (Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x))) return v as number[];
  return toJsonText(v);
}

/** The row fields of a span written by `record` (arrays and scalars as stored; JSON left as strings). */
export function rowOf(span: Span): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(span.attributes)) if (k.startsWith(ROW_PREFIX)) out[k.slice(ROW_PREFIX.length)] = v;
  return out;
}

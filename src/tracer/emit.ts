// The emit helpers: one zero-length span each, named and attributed after
// Agent Lightning's semconv, recorded into the current rollout attempt.
import { SpanStatusCode, type Attributes as OtelAttributes } from "@opentelemetry/api";
import { AGL } from "../types/index.js";
import { ValidationError } from "../types/errors.js";
import { arclightTracer } from "./provider.js";
import { toAttributeValue } from "./attributes.js";

export type RewardValue = number | Record<string, number>;

export interface EmitRewardOptions {
  /** Which dimension of a multi-dimensional reward is the primary one (default: the first key). */
  primary?: string;
}

function emitSpan(name: string, attributes: OtelAttributes, onSpan?: (s: import("@opentelemetry/api").Span) => void): void {
  const span = arclightTracer().startSpan(name, { attributes });
  onSpan?.(span);
  span.end();
}

/**
 * Records a reward for the current rollout: a number, or named dimensions
 * (`{ correct: 1, format: 0.5 }`) of which one is primary.
 */
export function emitReward(value: RewardValue, opts: EmitRewardOptions = {}): void {
  let dims: [string, number][];
  if (typeof value === "number") dims = [["primary", value]];
  else if (value && typeof value === "object" && !Array.isArray(value)) dims = Object.entries(value);
  else throw new ValidationError("emitReward", [`expected a number or a record of numbers, got ${describe(value)}`]);
  if (dims.length === 0) throw new ValidationError("emitReward", ["a reward record needs at least one dimension"]);
  for (const [k, v] of dims)
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new ValidationError("emitReward", [`dimension ${JSON.stringify(k)} must be a finite number, got ${describe(v)}`]);
  if (opts.primary !== undefined) {
    const i = dims.findIndex(([k]) => k === opts.primary);
    if (i < 0) throw new ValidationError("emitReward", [`primary dimension ${JSON.stringify(opts.primary)} is not in the reward`]);
    dims.unshift(...dims.splice(i, 1));
  }
  const attrs: OtelAttributes = { [AGL.attrs.reward]: JSON.stringify(typeof value === "number" ? value : Object.fromEntries(dims)) };
  dims.forEach(([k, v], i) => {
    attrs[`agentlightning.reward.${i}.name`] = k;
    attrs[`agentlightning.reward.${i}.value`] = v;
  });
  emitSpan(AGL.spans.reward, attrs);
}

/** Records a free-form message (a log line the analysis should see beside the spans). */
export function emitMessage(text: string): void {
  if (typeof text !== "string") throw new ValidationError("emitMessage", [`expected a string, got ${describe(text)}`]);
  emitSpan(AGL.spans.message, { [AGL.attrs.messageBody]: text });
}

/** Records any JSON-serialisable value. */
export function emitObject(value: unknown): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new ValidationError("emitObject", [`value is not JSON-serialisable: ${(e as Error).message}`]);
  }
  emitSpan(AGL.spans.object, {
    [AGL.attrs.objectJson]: json ?? "null",
    [AGL.attrs.objectType]: value === null ? "null" : Array.isArray(value) ? "array" : typeof value,
  });
}

/** Records an exception (OpenTelemetry exception event, error status) without throwing it. */
export function emitException(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  emitSpan(AGL.spans.exception, {}, (span) => {
    span.recordException(e);
    span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
  });
}

/** Records arbitrary attributes (values flattened to OpenTelemetry attribute types). */
export function emitAnnotation(attrs: Record<string, unknown>): void {
  if (!attrs || typeof attrs !== "object" || Array.isArray(attrs))
    throw new ValidationError("emitAnnotation", [`expected a record of attributes, got ${describe(attrs)}`]);
  const out: OtelAttributes = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = toAttributeValue(v);
  emitSpan(AGL.spans.annotation, out);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number") return String(v);
  return typeof v;
}

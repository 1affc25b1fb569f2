// Span validation on the ingest hot path. A hand-written check accepts
// exactly what SpanSchema accepts and builds the normalized copy in one pass;
// anything it does not accept goes through zod, which either fills defaults
// or throws the ValidationError with every bad field named.

import { z } from "zod";
import { SpanSchema, type Attributes, type AttributeValue, type Span } from "../types/span.js";
import { parseOrThrow } from "../types/validate.js";

/** A span as callers hand it in: the store assigns sequenceId when it is left out. */
export const SpanInputSchema = SpanSchema.extend({ sequenceId: SpanSchema.shape.sequenceId.optional() });
export type SpanDraft = Omit<Span, "sequenceId"> & { sequenceId?: number };

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const STATUS_CODES = new Set(["UNSET", "OK", "ERROR"]);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function attrValue(v: unknown): AttributeValue | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : undefined;
    case "object": {
      if (v === null) return null;
      if (!Array.isArray(v)) return undefined;
      if (v.length === 0) return [];
      const t = typeof v[0];
      if (t !== "string" && t !== "number" && t !== "boolean") return undefined;
      for (const x of v) if (typeof x !== t || (t === "number" && !Number.isFinite(x))) return undefined;
      return v.slice() as AttributeValue;
    }
    default:
      return undefined;
  }
}

function attrs(v: unknown): Attributes | undefined {
  if (!isObj(v)) return undefined;
  const out: Attributes = {};
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    const x = attrValue(v[k]);
    if (x === undefined) return undefined;
    out[k] = x;
  }
  return out;
}

function fast(v: unknown): SpanDraft | undefined {
  if (!isObj(v)) return undefined;
  const { rolloutId, attemptId, sequenceId, traceId, spanId, parentId, name, status, startTime, endTime } = v;
  if (typeof rolloutId !== "string" || rolloutId.length === 0) return undefined;
  if (typeof attemptId !== "string" || attemptId.length === 0) return undefined;
  if (sequenceId !== undefined && !(Number.isSafeInteger(sequenceId) && (sequenceId as number) >= 0)) return undefined;
  if (typeof traceId !== "string" || !HEX32.test(traceId)) return undefined;
  if (typeof spanId !== "string" || !HEX16.test(spanId)) return undefined;
  if (parentId !== null && (typeof parentId !== "string" || !HEX16.test(parentId))) return undefined;
  if (typeof name !== "string" || !isNum(startTime) || !isNum(endTime)) return undefined;
  if (!isObj(status) || !STATUS_CODES.has(status.statusCode as string)) return undefined;
  const desc = status.description;
  if (desc !== undefined && desc !== null && typeof desc !== "string") return undefined;
  const attributes = attrs(v.attributes);
  if (!attributes || !Array.isArray(v.events) || !Array.isArray(v.links) || !isObj(v.resource)) return undefined;
  const events: Span["events"] = [];
  for (const e of v.events) {
    if (!isObj(e) || typeof e.name !== "string" || !isNum(e.timestamp)) return undefined;
    const a = e.attributes === undefined ? {} : attrs(e.attributes);
    if (!a) return undefined;
    events.push({ name: e.name, timestamp: e.timestamp, attributes: a });
  }
  const links: Span["links"] = [];
  for (const l of v.links) {
    if (!isObj(l) || typeof l.traceId !== "string" || typeof l.spanId !== "string") return undefined;
    const a = l.attributes === undefined ? {} : attrs(l.attributes);
    if (!a) return undefined;
    links.push({ traceId: l.traceId, spanId: l.spanId, attributes: a });
  }
  const r = v.resource;
  const rAttrs = r.attributes === undefined ? {} : attrs(r.attributes);
  if (!rAttrs || (r.schemaUrl !== undefined && typeof r.schemaUrl !== "string")) return undefined;
  const out: SpanDraft = {
    rolloutId,
    attemptId,
    traceId,
    spanId,
    parentId: parentId as string | null,
    name,
    status: desc === undefined ? { statusCode: status.statusCode as Span["status"]["statusCode"] } : { statusCode: status.statusCode as Span["status"]["statusCode"], description: desc as string | null },
    attributes,
    events,
    links,
    startTime,
    endTime,
    resource: { attributes: rAttrs, schemaUrl: (r.schemaUrl as string | undefined) ?? "" },
  };
  if (sequenceId !== undefined) out.sequenceId = sequenceId as number;
  return out;
}

const toMicro = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Validates one span input and returns a fresh normalized copy the store may
 * keep: status always carries a description (null when none), times are
 * rounded to the microsecond so a span reads back from Parquet unchanged.
 */
export function normalizeSpan(v: unknown, where: string): SpanDraft {
  const s = fast(v) ?? (parseOrThrow(SpanInputSchema, v, where) as SpanDraft);
  if (s.status.description === undefined) s.status = { statusCode: s.status.statusCode, description: null };
  s.startTime = toMicro(s.startTime);
  s.endTime = toMicro(s.endTime);
  return s;
}

export const SpanInputArraySchema = z.array(z.unknown());

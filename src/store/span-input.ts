// Span validation on the ingest hot path. A hand-written check accepts
// exactly what SpanSchema accepts and builds the normalized copy in one pass;
// anything it does not accept goes through zod, which either fills defaults
// or throws the ValidationError with every bad field named.

import { z } from "zod";
import { SpanSchema, type Attributes, type AttributeValue, type Span } from "../types/span.js";
import { isWellFormedText, parseOrThrow } from "../types/validate.js";
import { ValidationError } from "../types/errors.js";

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
/** Well-formed Unicode (no lone surrogate). isWellFormed is ES2024 (Node >= 20); the project's lib is ES2023. */
const wf = isWellFormedText;
const text = (v: unknown): v is string => typeof v === "string" && wf(v);

function attrValue(v: unknown, owned: boolean): AttributeValue | undefined {
  switch (typeof v) {
    case "string":
      return wf(v) ? v : undefined;
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
      for (const x of v) if (typeof x !== t || (t === "number" && !Number.isFinite(x)) || (t === "string" && !wf(x))) return undefined;
      return (owned ? v : v.slice()) as AttributeValue;
    }
    default:
      return undefined;
  }
}

/** The attributes checked, as a copy (or themselves when `owned`: the caller's fresh object, kept as it is). */
function attrs(v: unknown, owned: boolean): Attributes | undefined {
  if (!isObj(v)) return undefined;
  if (owned && Object.getPrototypeOf(v) !== Object.prototype) owned = false;
  const out: Attributes = owned ? (v as Attributes) : {};
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    if (!wf(k)) return undefined;
    const x = attrValue(v[k], owned);
    if (x === undefined) return undefined;
    if (owned) continue;
    // An own "__proto__" key (JSON.parse makes them) would set the prototype instead and vanish.
    if (k === "__proto__") Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out;
}

function fast(v: unknown, owned: boolean): SpanDraft | undefined {
  if (!isObj(v)) return undefined;
  const { rolloutId, attemptId, sequenceId, traceId, spanId, parentId, name, status, startTime, endTime } = v;
  if (!text(rolloutId) || rolloutId.length === 0) return undefined;
  if (!text(attemptId) || attemptId.length === 0) return undefined;
  if (sequenceId !== undefined && !(Number.isSafeInteger(sequenceId) && (sequenceId as number) >= 0)) return undefined;
  if (typeof traceId !== "string" || !HEX32.test(traceId)) return undefined;
  if (typeof spanId !== "string" || !HEX16.test(spanId)) return undefined;
  if (parentId !== null && (typeof parentId !== "string" || !HEX16.test(parentId))) return undefined;
  if (!text(name) || !isNum(startTime) || !isNum(endTime)) return undefined;
  if (!isObj(status) || !STATUS_CODES.has(status.statusCode as string)) return undefined;
  const desc = status.description;
  if (desc !== undefined && desc !== null && !text(desc)) return undefined;
  const attributes = attrs(v.attributes, owned);
  if (!attributes || !Array.isArray(v.events) || !Array.isArray(v.links) || !isObj(v.resource)) return undefined;
  const events: Span["events"] = [];
  for (const e of v.events) {
    if (!isObj(e) || !text(e.name) || !isNum(e.timestamp)) return undefined;
    const a = e.attributes === undefined ? {} : attrs(e.attributes, owned);
    if (!a) return undefined;
    events.push({ name: e.name, timestamp: e.timestamp, attributes: a });
  }
  const links: Span["links"] = [];
  for (const l of v.links) {
    if (!isObj(l) || !text(l.traceId) || !text(l.spanId)) return undefined;
    const a = l.attributes === undefined ? {} : attrs(l.attributes, owned);
    if (!a) return undefined;
    links.push({ traceId: l.traceId, spanId: l.spanId, attributes: a });
  }
  const r = v.resource;
  const rAttrs = r.attributes === undefined ? {} : attrs(r.attributes, owned);
  if (!rAttrs || (r.schemaUrl !== undefined && !text(r.schemaUrl))) return undefined;
  const out: SpanDraft = {
    rolloutId,
    attemptId,
    traceId,
    spanId,
    parentId: parentId as string | null,
    name,
    status:
      desc === undefined
        ? { statusCode: status.statusCode as Span["status"]["statusCode"] }
        : { statusCode: status.statusCode as Span["status"]["statusCode"], description: desc as string | null },
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

// `+ 0` turns -0 into 0, which is what JSON (WAL, Parquet) keeps.
const toMicro = (ms: number) => Math.round(ms * 1000) / 1000 + 0;

/**
 * Span times a store keeps: what a Date can hold (+-8.64e15 ms), well inside
 * Parquet's microsecond timestamps (+-9.2e15 ms). A time beyond it cannot be
 * folded into a part.
 */
export const MAX_SPAN_TIME_MS = 8.64e15;

/** A UTF-16 surrogate not part of a pair (with the u flag a pair is one code point and never matches). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Where `s` holds a lone UTF-16 surrogate, or -1 when it is well-formed Unicode. */
function loneSurrogateAt(s: string): number {
  return wf(s) ? -1 : s.search(LONE_SURROGATE);
}

function textProblem(path: string, s: string): string | null {
  const at = loneSurrogateAt(s);
  if (at < 0) return null;
  const unit = s.charCodeAt(at).toString(16).toUpperCase();
  return `${path}: lone UTF-16 surrogate U+${unit} at index ${at} is not Unicode text; the store keeps text exactly, as UTF-8, and cannot encode it (String.prototype.toWellFormed() replaces it with U+FFFD)`;
}

function attrsProblem(path: string, a: Attributes): string | null {
  for (const k of Object.keys(a)) {
    const p = textProblem(`${path}: key ${JSON.stringify(k)}`, k);
    if (p) return p;
    const v = a[k];
    if (typeof v === "string") {
      const q = textProblem(`${path}.${k}`, v);
      if (q) return q;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        const q = typeof x === "string" ? textProblem(`${path}.${k}[${i}]`, x) : null;
        if (q) return q;
      }
    }
  }
  return null;
}

/**
 * Why a span cannot be stored exactly as it is, or null. Every string must
 * be well-formed Unicode: WAL lines, Parquet and DuckDB hold UTF-8, which has
 * no encoding for a lone surrogate (DuckDB refuses the line; a lossy repair
 * would break "stored text reads back exactly"). Times must fit a Parquet
 * timestamp. The durable store also screens spans read back from a WAL with
 * this (records an earlier version acknowledged) and sets such spans aside.
 */
export function spanStorageProblem(s: Omit<Span, "sequenceId">): string | null {
  for (const t of ["startTime", "endTime"] as const) {
    if (!(Math.abs(s[t]) <= MAX_SPAN_TIME_MS))
      return `${t}: ${s[t]} is outside the times a store keeps (epoch ms within +-${MAX_SPAN_TIME_MS})`;
  }
  const p =
    textProblem("rolloutId", s.rolloutId) ??
    textProblem("attemptId", s.attemptId) ??
    textProblem("name", s.name) ??
    (s.status.description != null ? textProblem("status.description", s.status.description) : null) ??
    attrsProblem("attributes", s.attributes) ??
    textProblem("resource.schemaUrl", s.resource.schemaUrl) ??
    attrsProblem("resource.attributes", s.resource.attributes);
  if (p) return p;
  for (let i = 0; i < s.events.length; i++) {
    const e = s.events[i];
    const q = textProblem(`events[${i}].name`, e.name) ?? attrsProblem(`events[${i}].attributes`, e.attributes);
    if (q) return q;
  }
  for (let i = 0; i < s.links.length; i++) {
    const l = s.links[i];
    const q =
      textProblem(`links[${i}].traceId`, l.traceId) ??
      textProblem(`links[${i}].spanId`, l.spanId) ??
      attrsProblem(`links[${i}].attributes`, l.attributes);
    if (q) return q;
  }
  return null;
}

/**
 * Validates one span input and returns a fresh normalized copy the store may
 * keep (`owned`: the input is the caller's own fresh object, such as a span just
 * converted or parsed, whose attribute objects are kept rather than copied
 * again): status always carries a description (null when none), times are
 * rounded to the microsecond so a span reads back from Parquet unchanged.
 * Text that is not well-formed Unicode and out-of-range times are refused
 * (spanStorageProblem), before anything is acknowledged.
 */
export function normalizeSpan(v: unknown, where: string, owned = false): SpanDraft {
  // The fast path accepts well-formed text only; the rest goes through zod and then the full check, which names the field.
  const f = fast(v, owned);
  const s = f ?? (parseOrThrow(SpanInputSchema, v, where) as SpanDraft);
  if (s.status.description === undefined) s.status = { statusCode: s.status.statusCode, description: null };
  s.startTime = toMicro(s.startTime);
  s.endTime = toMicro(s.endTime);
  const problem = f && Math.abs(s.startTime) <= MAX_SPAN_TIME_MS && Math.abs(s.endTime) <= MAX_SPAN_TIME_MS ? null : spanStorageProblem(s);
  if (problem) throw new ValidationError(where, [problem]);
  return s;
}

export const SpanInputArraySchema = z.array(z.unknown());

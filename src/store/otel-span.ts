// OpenTelemetry SDK ReadableSpan (or its plain-object shape) -> store span.

import { ValidationError } from "../types/errors.js";
import { toJsonText } from "../types/json.js";
import type { Attributes, AttributeValue } from "../types/span.js";
import type { SpanDraft } from "./span-input.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null;
const HEX16 = /^[0-9a-f]{16}$/;
const INVALID_SPAN_ID = "0000000000000000";

/** [seconds, nanoseconds] (OTel HrTime), a Date, or epoch milliseconds -> epoch milliseconds. */
function toMillis(t: unknown, field: string, issues: string[]): number {
  if (Array.isArray(t) && t.length === 2 && typeof t[0] === "number" && typeof t[1] === "number") return t[0] * 1000 + t[1] / 1e6;
  if (t instanceof Date) return t.getTime();
  if (typeof t === "number" && Number.isFinite(t)) return t;
  issues.push(`${field}: expected an HrTime [seconds, nanos] or epoch milliseconds`);
  return 0;
}

/** OTel allows arrays with nulls and mixed types; keep what our schema holds, JSON the rest. */
function attrValue(v: unknown): AttributeValue | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (Array.isArray(v)) {
    const xs = v.filter((x) => x !== null && x !== undefined);
    const t = typeof xs[0];
    if (xs.length === 0) return [];
    if ((t === "string" || t === "number" || t === "boolean") && xs.every((x) => typeof x === t && (t !== "number" || Number.isFinite(x))))
      return xs as AttributeValue;
    return toJsonText(v);
  }
  if (typeof v === "bigint") return Number(v);
  return toJsonText(v);
}

function toAttrs(a: unknown): Attributes {
  const out: Attributes = {};
  if (!isObj(a)) return out;
  for (const [k, v] of Object.entries(a)) {
    const x = attrValue(v);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

function context(v: unknown): Obj | null {
  if (!isObj(v)) return null;
  return typeof v.spanContext === "function" ? ((v.spanContext as () => Obj)() ?? null) : isObj(v.spanContext) ? v.spanContext : null;
}

const STATUS = ["UNSET", "OK", "ERROR"] as const;

/** Converts without judging ids and names; normalizeSpan then validates the result like any span. */
export function otelToSpanDraft(rolloutId: string, attemptId: string, span: unknown, sequenceId?: number): SpanDraft {
  const where = "addOtelSpan";
  if (!isObj(span)) throw new ValidationError(where, ["(value): expected an OpenTelemetry ReadableSpan"]);
  const issues: string[] = [];
  const ctx = context(span) ?? span;
  const parentCtx = isObj(span.parentSpanContext) ? span.parentSpanContext : null;
  let parentId = (parentCtx?.spanId ?? span.parentSpanId ?? null) as unknown;
  if (parentId === "" || parentId === INVALID_SPAN_ID || parentId === undefined) parentId = null;
  if (parentId !== null && (typeof parentId !== "string" || !HEX16.test(parentId)))
    issues.push("parentSpanId: expected 16 lowercase hex digits");
  const st = isObj(span.status) ? span.status : {};
  const code = typeof st.code === "number" ? STATUS[st.code] : typeof st.code === "string" ? st.code.toUpperCase() : "UNSET";
  if (!code || !STATUS.includes(code as (typeof STATUS)[number])) issues.push("status.code: expected 0 (UNSET), 1 (OK) or 2 (ERROR)");
  const startTime = toMillis(span.startTime, "startTime", issues);
  const endTime = span.endTime === undefined ? startTime : toMillis(span.endTime, "endTime", issues);
  const events = Array.isArray(span.events)
    ? span.events.map((e: unknown, i) => {
        const ev = isObj(e) ? e : {};
        return {
          name: String(ev.name ?? ""),
          timestamp: toMillis(ev.time ?? ev.timestamp, `events.${i}.time`, issues),
          attributes: toAttrs(ev.attributes),
        };
      })
    : [];
  const links = Array.isArray(span.links)
    ? span.links.map((l: unknown) => {
        const lk = isObj(l) ? l : {};
        const c = isObj(lk.context) ? lk.context : lk;
        return { traceId: String(c.traceId ?? ""), spanId: String(c.spanId ?? ""), attributes: toAttrs(lk.attributes) };
      })
    : [];
  const res = isObj(span.resource) ? span.resource : {};
  if (issues.length) throw new ValidationError(where, issues);
  const draft: SpanDraft = {
    rolloutId,
    attemptId,
    traceId: ctx.traceId as string,
    spanId: ctx.spanId as string,
    parentId: parentId as string | null,
    name: span.name as string,
    status: { statusCode: code as SpanDraft["status"]["statusCode"], description: typeof st.message === "string" ? st.message : null },
    attributes: toAttrs(span.attributes),
    events,
    links,
    startTime,
    endTime,
    resource: { attributes: toAttrs(res.attributes), schemaUrl: typeof res.schemaUrl === "string" ? res.schemaUrl : "" },
  };
  if (sequenceId !== undefined) draft.sequenceId = sequenceId;
  return draft;
}

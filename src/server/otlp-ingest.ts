// OTLP ExportTraceServiceRequest (decoded from protobuf, or OTLP/JSON as
// parsed) -> store spans, attributed to rollout attempts the way Agent
// Lightning's tracer does it: resource attributes agentlightning.rollout_id /
// agentlightning.attempt_id (span attributes as a fallback), or the attempt
// named in the URL. Spans that cannot be attributed are reported back, never
// dropped silently.

import type { SpanDraft } from "../store/span-input.js";
import { AGL, type Attributes, type AttributeValue } from "../types/index.js";

/** Resource attribute that fixes the first span's sequence id (Agent Lightning's span_sequence_id). */
export const SPAN_SEQUENCE_ATTR = "agentlightning.span_sequence_id";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface AttemptRef {
  rolloutId: string;
  attemptId: string;
}

export interface OtlpBatch {
  /** Spans per attempt, in the order they came. */
  groups: Map<string, { ref: AttemptRef; spans: SpanDraft[] }>;
  rejected: number;
  errors: string[];
}

/** protobufjs Long, a decimal string (OTLP/JSON) or a number -> number (ns precision beyond 2^53 is not needed for ms). */
function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v !== "") return Number(v);
  if (isObj(v) && typeof v.low === "number" && typeof v.high === "number") return (v.high >>> 0) * 4294967296 + (v.low >>> 0);
  return 0;
}

const nanosToMillis = (v: unknown) => toNumber(v) / 1e6;

/** bytes from protobuf, hex (OTLP/JSON) -> lowercase hex; "" when absent. */
function toHex(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  if (typeof v === "string") return v.toLowerCase();
  return "";
}

/** An AnyValue -> the store's attribute value (nested maps and mixed arrays become JSON text). */
function anyValue(v: unknown): AttributeValue | undefined {
  if (!isObj(v)) return undefined;
  // protobufjs names the set member of the oneof in `value`; OTLP/JSON just has the one key.
  const which = typeof v.value === "string" && v.value in v ? v.value : Object.keys(v).find((k) => k.endsWith("Value") && v[k] !== undefined && v[k] !== null);
  switch (which) {
    case "stringValue":
      return String(v.stringValue);
    case "boolValue":
      return Boolean(v.boolValue);
    case "intValue":
      return toNumber(v.intValue);
    case "doubleValue": {
      const d = typeof v.doubleValue === "string" ? Number(v.doubleValue) : (v.doubleValue as number);
      return Number.isFinite(d) ? d : String(v.doubleValue);
    }
    case "bytesValue":
      return v.bytesValue instanceof Uint8Array ? Buffer.from(v.bytesValue).toString("base64") : String(v.bytesValue);
    case "arrayValue": {
      const xs = list(isObj(v.arrayValue) ? v.arrayValue.values : undefined).map(anyValue);
      const t = typeof xs[0];
      if (xs.length === 0) return [];
      if ((t === "string" || t === "number" || t === "boolean") && xs.every((x) => typeof x === t)) return xs as AttributeValue;
      return JSON.stringify(xs);
    }
    case "kvlistValue":
      return JSON.stringify(attributes(isObj(v.kvlistValue) ? v.kvlistValue.values : undefined));
    default:
      return null;
  }
}

function attributes(kvs: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of list(kvs)) {
    if (!isObj(kv) || typeof kv.key !== "string") continue;
    const v = anyValue(kv.value);
    if (v !== undefined) out[kv.key] = v;
  }
  return out;
}

const STATUS = ["UNSET", "OK", "ERROR"] as const;
function statusCode(v: unknown): (typeof STATUS)[number] {
  if (typeof v === "number") return STATUS[v] ?? "UNSET";
  if (typeof v === "string") {
    const s = v.replace(/^STATUS_CODE_/, "");
    return (STATUS as readonly string[]).includes(s) ? (s as (typeof STATUS)[number]) : "UNSET";
  }
  return "UNSET";
}

function idAttr(attrs: Attributes, key: string): string | null {
  const v = attrs[key];
  return typeof v === "string" && v.length > 0 ? v : null;
}

/**
 * Splits an export request into per-attempt span drafts. `target` (from a
 * per-attempt URL) wins over attributes. Validation of each span is the
 * store's; here only attribution can fail.
 */
export function otlpToSpans(request: unknown, target: AttemptRef | null): OtlpBatch {
  const batch: OtlpBatch = { groups: new Map(), rejected: 0, errors: [] };
  if (!isObj(request)) {
    batch.errors.push("request is not an ExportTraceServiceRequest object");
    return batch;
  }
  for (const rs of list(request.resourceSpans)) {
    if (!isObj(rs)) continue;
    const resource = isObj(rs.resource) ? rs.resource : {};
    const resAttrs = attributes(resource.attributes);
    const schemaUrl = typeof rs.schemaUrl === "string" ? rs.schemaUrl : "";
    const seqBase = resAttrs[SPAN_SEQUENCE_ATTR];
    let seq = typeof seqBase === "number" && Number.isInteger(seqBase) && seqBase >= 0 ? seqBase : typeof seqBase === "string" && /^\d+$/.test(seqBase) ? Number(seqBase) : null;
    for (const ss of list(rs.scopeSpans ?? rs.instrumentationLibrarySpans)) {
      if (!isObj(ss)) continue;
      for (const sp of list(ss.spans)) {
        if (!isObj(sp)) {
          batch.rejected++;
          continue;
        }
        const attrs = attributes(sp.attributes);
        const rolloutId = target?.rolloutId ?? idAttr(resAttrs, AGL.attrs.rolloutId) ?? idAttr(attrs, AGL.attrs.rolloutId);
        const attemptId = target?.attemptId ?? idAttr(resAttrs, AGL.attrs.attemptId) ?? idAttr(attrs, AGL.attrs.attemptId);
        if (!rolloutId || !attemptId) {
          batch.rejected++;
          const msg = `span ${JSON.stringify(String(sp.name ?? ""))} has no ${AGL.attrs.rolloutId} / ${AGL.attrs.attemptId} resource attributes and was not posted to /v1/agl/rollouts/{rolloutId}/attempts/{attemptId}/v1/traces`;
          if (batch.errors.length < 5) batch.errors.push(msg);
          continue;
        }
        const status = isObj(sp.status) ? sp.status : {};
        const parent = toHex(sp.parentSpanId);
        const draft: SpanDraft = {
          rolloutId,
          attemptId,
          traceId: toHex(sp.traceId),
          spanId: toHex(sp.spanId),
          parentId: parent === "" || /^0+$/.test(parent) ? null : parent,
          name: typeof sp.name === "string" ? sp.name : "",
          status: { statusCode: statusCode(status.code), description: typeof status.message === "string" && status.message !== "" ? status.message : null },
          attributes: attrs,
          events: list(sp.events).filter(isObj).map((e) => ({ name: String(e.name ?? ""), timestamp: nanosToMillis(e.timeUnixNano), attributes: attributes(e.attributes) })),
          links: list(sp.links).filter(isObj).map((l) => ({ traceId: toHex(l.traceId), spanId: toHex(l.spanId), attributes: attributes(l.attributes) })),
          startTime: nanosToMillis(sp.startTimeUnixNano),
          endTime: nanosToMillis(sp.endTimeUnixNano),
          resource: { attributes: resAttrs, schemaUrl },
        };
        if (seq !== null) draft.sequenceId = seq++;
        const key = `${rolloutId}\0${attemptId}`;
        let g = batch.groups.get(key);
        if (!g) batch.groups.set(key, (g = { ref: { rolloutId, attemptId }, spans: [] }));
        g.spans.push(draft);
      }
    }
  }
  return batch;
}

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
  const which =
    typeof v.value === "string" && v.value in v
      ? v.value
      : Object.keys(v).find((k) => k.endsWith("Value") && v[k] !== undefined && v[k] !== null);
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
    if (v !== undefined) setAttribute(out, kv.key, v);
  }
  return out;
}

/** out[key] = v, where a "__proto__" key stays a key instead of replacing the prototype. */
export function setAttribute(out: Attributes, key: string, v: AttributeValue): void {
  if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  else out[key] = v;
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

/** A span's own fields, as a decoder reads them; the collector attributes it and adds its resource. */
export type OtlpSpanFields = Omit<SpanDraft, "rolloutId" | "attemptId" | "resource" | "sequenceId">;

/**
 * Groups decoded spans by the attempt they belong to: `target` (from a
 * per-attempt URL) wins over resource attributes, which win over span
 * attributes. Both decoders (OTLP/JSON objects here, protobuf in
 * otlp-decode.ts) feed it, so attribution has one definition.
 */
export class OtlpCollector {
  readonly batch: OtlpBatch = { groups: new Map(), rejected: 0, errors: [] };
  private resAttrs: Attributes = {};
  private schemaUrl = "";
  private seq: number | null = null;
  private last: { key: string; spans: SpanDraft[] } | null = null;

  constructor(private readonly target: AttemptRef | null) {}

  /** The spans that follow belong to this resource. */
  resource(attrs: Attributes, schemaUrl: string): void {
    this.resAttrs = attrs;
    this.schemaUrl = schemaUrl;
    const seqBase = attrs[SPAN_SEQUENCE_ATTR];
    this.seq =
      typeof seqBase === "number" && Number.isInteger(seqBase) && seqBase >= 0
        ? seqBase
        : typeof seqBase === "string" && /^\d+$/.test(seqBase)
          ? Number(seqBase)
          : null;
  }

  /** A span entry that is not a span at all. */
  malformed(): void {
    this.batch.rejected++;
  }

  span(f: OtlpSpanFields): void {
    const t = this.target;
    const rolloutId = t?.rolloutId ?? idAttr(this.resAttrs, AGL.attrs.rolloutId) ?? idAttr(f.attributes, AGL.attrs.rolloutId);
    const attemptId = t?.attemptId ?? idAttr(this.resAttrs, AGL.attrs.attemptId) ?? idAttr(f.attributes, AGL.attrs.attemptId);
    if (!rolloutId || !attemptId) {
      this.batch.rejected++;
      const msg = `span ${JSON.stringify(f.name)} has no ${AGL.attrs.rolloutId} / ${AGL.attrs.attemptId} resource attributes and was not posted to /v1/agl/rollouts/{rolloutId}/attempts/{attemptId}/v1/traces`;
      if (this.batch.errors.length < 5) this.batch.errors.push(msg);
      return;
    }
    const parent = f.parentId;
    const draft: SpanDraft = {
      rolloutId,
      attemptId,
      traceId: f.traceId,
      spanId: f.spanId,
      parentId: parent === null || parent === "" || /^0+$/.test(parent) ? null : parent,
      name: f.name,
      status: f.status,
      attributes: f.attributes,
      events: f.events,
      links: f.links,
      startTime: f.startTime,
      endTime: f.endTime,
      resource: { attributes: this.resAttrs, schemaUrl: this.schemaUrl },
    };
    if (this.seq !== null) draft.sequenceId = this.seq++;
    const key = `${rolloutId}\0${attemptId}`;
    if (this.last?.key === key) {
      this.last.spans.push(draft);
      return;
    }
    let g = this.batch.groups.get(key);
    if (!g) this.batch.groups.set(key, (g = { ref: { rolloutId, attemptId }, spans: [] }));
    g.spans.push(draft);
    this.last = { key, spans: g.spans };
  }
}

/** The status a decoded status code and message stand for. */
export function otlpStatus(code: unknown, message: unknown): SpanDraft["status"] {
  return { statusCode: statusCode(code), description: typeof message === "string" && message !== "" ? message : null };
}

/**
 * Splits an export request given as OTLP/JSON objects (or protobufjs
 * messages) into per-attempt span drafts. Validation of each span is the
 * store's; here only attribution can fail.
 */
export function otlpToSpans(request: unknown, target: AttemptRef | null): OtlpBatch {
  const c = new OtlpCollector(target);
  if (!isObj(request)) {
    c.batch.errors.push("request is not an ExportTraceServiceRequest object");
    return c.batch;
  }
  for (const rs of list(request.resourceSpans)) {
    if (!isObj(rs)) continue;
    const resource = isObj(rs.resource) ? rs.resource : {};
    c.resource(attributes(resource.attributes), typeof rs.schemaUrl === "string" ? rs.schemaUrl : "");
    for (const ss of list(rs.scopeSpans ?? rs.instrumentationLibrarySpans)) {
      if (!isObj(ss)) continue;
      for (const sp of list(ss.spans)) {
        if (!isObj(sp)) {
          c.malformed();
          continue;
        }
        const status = isObj(sp.status) ? sp.status : {};
        c.span({
          traceId: toHex(sp.traceId),
          spanId: toHex(sp.spanId),
          parentId: toHex(sp.parentSpanId),
          name: typeof sp.name === "string" ? sp.name : "",
          status: otlpStatus(status.code, status.message),
          attributes: attributes(sp.attributes),
          events: list(sp.events)
            .filter(isObj)
            .map((e) => ({ name: String(e.name ?? ""), timestamp: nanosToMillis(e.timeUnixNano), attributes: attributes(e.attributes) })),
          links: list(sp.links)
            .filter(isObj)
            .map((l) => ({ traceId: toHex(l.traceId), spanId: toHex(l.spanId), attributes: attributes(l.attributes) })),
          startTime: nanosToMillis(sp.startTimeUnixNano),
          endTime: nanosToMillis(sp.endTimeUnixNano),
        });
      }
    }
  }
  return c.batch;
}

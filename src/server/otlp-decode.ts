// OTLP/HTTP protobuf bodies (ExportTraceServiceRequest) decoded straight into
// the store's span drafts: one pass over the bytes, no message objects, no
// 64-bit Long values (protobufjs' decode made OTLP cost the server more per
// span than the JSON endpoint; bench/server). Field numbers are those of
// opentelemetry-proto v1 (otlp-proto.ts keeps the full descriptor, which
// encodes answers and which tests use to build bodies). Unknown fields are
// skipped as the protobuf rules say; a body that is not valid protobuf throws
// OtlpDecodeError, which the route answers with 400.

import type { Attributes, AttributeValue } from "../types/index.js";
import { OtlpCollector, otlpStatus, setAttribute, type AttemptRef, type OtlpBatch } from "./otlp-ingest.js";

export class OtlpDecodeError extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(`not an OTLP ExportTraceServiceRequest: ${message}`);
    this.name = "OtlpDecodeError";
  }
}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;
const TWO32 = 4294967296;
/** Nested AnyValues (arrays of kvlists of ...) deeper than this are refused rather than recursed into. */
const MAX_DEPTH = 32;

/** Attribute keys kept for reuse (see Reader.key): a direct-mapped table of ASCII keys up to 128 bytes. */
const KEY_SLOTS = 4096;
const MAX_CACHED_KEY = 128;
const keySlots: (string | undefined)[] = new Array(KEY_SLOTS);

function isAscii(t: string): boolean {
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** A cursor over one message's bytes [pos, end). */
class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  /** The next field's tag (field number << 3 | wire type), or -1 at the end. */
  tag(): number {
    if (this.pos >= this.end) return -1;
    const t = this.varint32();
    if (t >>> 3 === 0) throw new OtlpDecodeError(`field number 0 at byte ${this.pos}`);
    return t;
  }

  /** A varint's low 32 bits as an unsigned number (enough for tags, lengths, enums and counts). */
  varint32(): number {
    const b = this.buf;
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OtlpDecodeError("truncated varint");
      const x = b[this.pos++];
      if (shift < 32) v += (x & 0x7f) * 2 ** shift;
      shift += 7;
      if (x < 0x80) return v % TWO32;
    }
    throw new OtlpDecodeError("varint longer than 10 bytes");
  }

  /** A varint as a signed 64-bit integer (int64), as the nearest double. */
  int64(): number {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OtlpDecodeError("truncated varint");
      const x = b[this.pos++];
      const bits = x & 0x7f;
      if (shift < 28) lo += bits * 2 ** shift;
      else if (shift === 28) {
        lo += (bits & 0x0f) * 2 ** 28;
        hi += bits >>> 4;
      } else hi += bits * 2 ** (shift - 32);
      shift += 7;
      if (x < 0x80) {
        hi %= TWO32;
        return hi >= 2 ** 31 ? (hi - TWO32) * TWO32 + lo : hi * TWO32 + lo;
      }
    }
    throw new OtlpDecodeError("varint longer than 10 bytes");
  }

  fixed64(): number {
    if (this.pos + 8 > this.end) throw new OtlpDecodeError("truncated fixed64");
    const v = this.buf.readUInt32LE(this.pos) + this.buf.readUInt32LE(this.pos + 4) * TWO32;
    this.pos += 8;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new OtlpDecodeError("truncated double");
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-delimited field's bounds; the cursor moves past it. */
  len(): [number, number] {
    const n = this.varint32();
    const start = this.pos;
    if (n > this.end - start) throw new OtlpDecodeError(`a field of ${n} bytes runs past its message (byte ${start})`);
    this.pos = start + n;
    return [start, start + n];
  }

  sub(): Reader {
    const [s, e] = this.len();
    return new Reader(this.buf, s, e);
  }

  string(): string {
    const [s, e] = this.len();
    return s === e ? "" : this.buf.toString("utf8", s, e);
  }

  /**
   * An attribute key. Keys repeat in every span: an ASCII key seen before is found in a small table
   * and matched byte by byte instead of decoded again, and the span then gets the same string each
   * time, one V8 has already made a property name (a fresh string is looked up again on every
   * `attributes[key] = value`). Decode + attribution went from 4.6-4.8 to 3.6-4.0 CPU us a span
   * (bench/server/otlp-decode.ts).
   */
  key(): string {
    const [s, e] = this.len();
    const n = e - s;
    if (n === 0) return "";
    const b = this.buf;
    // The slot comes from the length and three bytes: a hit is then confirmed byte by byte.
    const slot = (n * 31 + b[s] * 7 + b[s + (n >> 1)] * 3 + b[e - 1]) & (KEY_SLOTS - 1);
    const k = keySlots[slot];
    if (k !== undefined && k.length === n) {
      let i = 0;
      while (i < n && k.charCodeAt(i) === b[s + i]) i++;
      if (i === n) return k;
    }
    const fresh = b.toString("utf8", s, e);
    // Only ASCII keys are kept: for them, equal char codes mean equal bytes.
    if (fresh.length === n && n <= MAX_CACHED_KEY && isAscii(fresh)) keySlots[slot] = fresh;
    return fresh;
  }

  hex(): string {
    const [s, e] = this.len();
    return s === e ? "" : this.buf.toString("hex", s, e);
  }

  skip(tag: number): void {
    switch (tag & 7) {
      case VARINT:
        this.varint32();
        return;
      case FIXED64:
        if (this.pos + 8 > this.end) throw new OtlpDecodeError("truncated fixed64");
        this.pos += 8;
        return;
      case LEN:
        this.len();
        return;
      case FIXED32:
        if (this.pos + 4 > this.end) throw new OtlpDecodeError("truncated fixed32");
        this.pos += 4;
        return;
      default:
        throw new OtlpDecodeError(`wire type ${tag & 7} (field ${tag >>> 3}) is not used by OTLP`);
    }
  }

  /** Reads a field's value when its wire type is the expected one; otherwise skips it (as protobuf does for a mismatch it cannot read). */
  is(tag: number, field: number, wire: number): boolean {
    if (tag === ((field << 3) | wire)) return true;
    return false;
  }
}

/** Decodes a body and attributes its spans (`target`: the attempt a per-attempt URL names). */
export function decodeOtlpTraces(buf: Buffer, target: AttemptRef | null): OtlpBatch {
  const c = new OtlpCollector(target);
  const r = new Reader(buf, 0, buf.length);
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, LEN)) resourceSpans(r.sub(), c);
    else r.skip(t);
  }
  return c.batch;
}

function resourceSpans(r: Reader, c: OtlpCollector): void {
  // The resource may follow its spans on the wire: find it (and the schema URL) first.
  let attrs: Attributes = {};
  let schemaUrl = "";
  const scopes: Reader[] = [];
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, LEN)) attrs = resource(r.sub());
    else if (r.is(t, 2, LEN)) scopes.push(r.sub());
    else if (r.is(t, 3, LEN)) schemaUrl = r.string();
    // 1000: instrumentation_library_spans of OTLP before v0.15, the same shape as scope_spans.
    else if (r.is(t, 1000, LEN)) scopes.push(r.sub());
    else r.skip(t);
  }
  c.resource(attrs, schemaUrl);
  for (const s of scopes) {
    for (let t = s.tag(); t !== -1; t = s.tag()) {
      if (s.is(t, 2, LEN)) span(s.sub(), c);
      else s.skip(t);
    }
  }
}

function resource(r: Reader): Attributes {
  const out: Attributes = {};
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, LEN)) keyValue(r.sub(), out, 0);
    else r.skip(t);
  }
  return out;
}

function span(r: Reader, c: OtlpCollector): void {
  let traceId = "";
  let spanId = "";
  let parentId = "";
  let name = "";
  let start = 0;
  let end = 0;
  let code = 0;
  let message = "";
  const attributes: Attributes = {};
  const events: { name: string; timestamp: number; attributes: Attributes }[] = [];
  const links: { traceId: string; spanId: string; attributes: Attributes }[] = [];
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    switch (t) {
      case (1 << 3) | LEN:
        traceId = r.hex();
        break;
      case (2 << 3) | LEN:
        spanId = r.hex();
        break;
      case (4 << 3) | LEN:
        parentId = r.hex();
        break;
      case (5 << 3) | LEN:
        name = r.string();
        break;
      case (7 << 3) | FIXED64:
        start = r.fixed64();
        break;
      case (8 << 3) | FIXED64:
        end = r.fixed64();
        break;
      case (9 << 3) | LEN:
        keyValue(r.sub(), attributes, 0);
        break;
      case (11 << 3) | LEN:
        events.push(event(r.sub()));
        break;
      case (13 << 3) | LEN:
        links.push(link(r.sub()));
        break;
      case (15 << 3) | LEN: {
        const s = r.sub();
        for (let u = s.tag(); u !== -1; u = s.tag()) {
          if (s.is(u, 2, LEN)) message = s.string();
          else if (s.is(u, 3, VARINT)) code = s.varint32();
          else s.skip(u);
        }
        break;
      }
      default:
        r.skip(t);
    }
  }
  c.span({
    traceId,
    spanId,
    parentId,
    name,
    status: otlpStatus(code, message),
    attributes,
    events,
    links,
    startTime: start / 1e6,
    endTime: end / 1e6,
  });
}

function event(r: Reader): { name: string; timestamp: number; attributes: Attributes } {
  let name = "";
  let time = 0;
  const attributes: Attributes = {};
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, FIXED64)) time = r.fixed64();
    else if (r.is(t, 2, LEN)) name = r.string();
    else if (r.is(t, 3, LEN)) keyValue(r.sub(), attributes, 0);
    else r.skip(t);
  }
  return { name, timestamp: time / 1e6, attributes };
}

function link(r: Reader): { traceId: string; spanId: string; attributes: Attributes } {
  let traceId = "";
  let spanId = "";
  const attributes: Attributes = {};
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, LEN)) traceId = r.hex();
    else if (r.is(t, 2, LEN)) spanId = r.hex();
    else if (r.is(t, 4, LEN)) keyValue(r.sub(), attributes, 0);
    else r.skip(t);
  }
  return { traceId, spanId, attributes };
}

/** A KeyValue into `out`; one without a value is left out, one with an empty AnyValue is null. */
function keyValue(r: Reader, out: Attributes, depth: number): void {
  let key = "";
  let value: AttributeValue | undefined;
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    if (r.is(t, 1, LEN)) key = r.key();
    else if (r.is(t, 2, LEN)) value = anyValue(r.sub(), depth + 1);
    else r.skip(t);
  }
  if (value !== undefined) setAttribute(out, key, value);
}

/** Values inside arrays and kvlists: kept as decoded, turned into attribute values by the caller. */
type Nested = string | number | boolean | null | Nested[] | { [k: string]: Nested };

/** An AnyValue as the store's attribute value: nested maps and mixed arrays become JSON text (as otlp-ingest.ts does for OTLP/JSON). */
function anyValue(r: Reader, depth: number): AttributeValue {
  const v = nested(r, depth);
  if (Array.isArray(v)) return attributeArray(v);
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return v;
}

function attributeArray(xs: Nested[]): AttributeValue {
  const items = xs.map((x) => (Array.isArray(x) ? attributeArray(x) : typeof x === "object" && x !== null ? JSON.stringify(x) : x));
  if (items.length === 0) return [];
  const t = typeof items[0];
  if ((t === "string" || t === "number" || t === "boolean") && items.every((x) => typeof x === t)) return items as AttributeValue;
  return JSON.stringify(items);
}

function nested(r: Reader, depth: number): Nested {
  if (depth > MAX_DEPTH) throw new OtlpDecodeError(`attribute values nested deeper than ${MAX_DEPTH}`);
  // The last member of the oneof on the wire wins, as protobuf decoders do.
  let v: Nested = null;
  for (let t = r.tag(); t !== -1; t = r.tag()) {
    switch (t) {
      case (1 << 3) | LEN:
        v = r.string();
        break;
      case (2 << 3) | VARINT:
        v = r.varint32() !== 0;
        break;
      case (3 << 3) | VARINT:
        v = r.int64();
        break;
      case (4 << 3) | FIXED64: {
        const d = r.double();
        v = Number.isFinite(d) ? d : String(d);
        break;
      }
      case (5 << 3) | LEN: {
        const a = r.sub();
        const xs: Nested[] = [];
        for (let u = a.tag(); u !== -1; u = a.tag()) {
          if (a.is(u, 1, LEN)) xs.push(nested(a.sub(), depth + 1));
          else a.skip(u);
        }
        v = xs;
        break;
      }
      case (6 << 3) | LEN: {
        const kv = r.sub();
        const obj: Attributes = {};
        for (let u = kv.tag(); u !== -1; u = kv.tag()) {
          if (kv.is(u, 1, LEN)) keyValue(kv.sub(), obj, depth + 1);
          else kv.skip(u);
        }
        v = obj as { [k: string]: Nested };
        break;
      }
      case (7 << 3) | LEN: {
        const [s, e] = r.len();
        v = r.buf.toString("base64", s, e);
        break;
      }
      default:
        r.skip(t);
    }
  }
  return v;
}

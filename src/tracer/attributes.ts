import type { AttributeValue } from "@opentelemetry/api";
import { toJsonText } from "../types/json.js";

const MAX_ATTRIBUTE_CHARS = 1 << 20;

/** OpenTelemetry attributes hold primitives or homogeneous arrays; anything else becomes JSON text. */
export function toAttributeValue(v: unknown): AttributeValue {
  if (typeof v === "string") return clip(v);
  if (typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v) && v.length > 0) {
    const t = typeof v[0];
    if ((t === "string" || t === "number" || t === "boolean") && v.every((x) => typeof x === t)) return v as AttributeValue;
  }
  return clip(toJsonText(v));
}

// A runaway prompt must not blow up the store; a megabyte is plenty to analyse.
function clip(s: string): string {
  return s.length > MAX_ATTRIBUTE_CHARS ? `${s.slice(0, MAX_ATTRIBUTE_CHARS)}…[truncated]` : s;
}

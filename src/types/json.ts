// JSON at the edges of span data: attribute values hold JSON text (messages,
// rewards, objects) that may or may not parse, and values of any type must
// become text for Parquet, charts and logs. One rule each, so every reader
// gives the same answer for the same span.

/**
 * The value behind JSON text: `'{"a":1}'` -> `{a: 1}`; text that is not JSON
 * comes back unchanged (a plain-text message stays readable); a non-string
 * passes through (an attribute already an array or number), undefined as null.
 */
export function parseJsonText(v: unknown): unknown {
  if (typeof v !== "string") return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/**
 * A value as JSON text; bigints as numbers; undefined as "null" (so the text
 * still parses); what JSON cannot hold (a cycle, a function, a symbol) as
 * String(v), so writing never throws.
 */
export function toJsonText(v: unknown): string {
  let text: string | undefined;
  try {
    // Without a replacer first: a replacer takes JSON.stringify off its fast path (every LLM span writes two of these).
    text = JSON.stringify(v);
  } catch {
    try {
      text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));
    } catch {
      return String(v);
    }
  }
  return text ?? (v === undefined ? "null" : String(v));
}

/** A record as JSON.parse, a literal or Object.create(null) makes it: not an array, a class instance or null. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

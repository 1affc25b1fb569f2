// The LLM-call rule of src/types/semconv.ts compiled to a DuckDB predicate
// over span Parquet columns (`name`, and `attributes` as JSON text), so a
// query over the files counts exactly the spans isLlmCall() accepts.

import { LLM_CALL_RULES, type LlmCallRule } from "../types/semconv.js";
import { sqlString } from "./dir-reader.js";

function path(key: string): string {
  return sqlString(`$."${key.replaceAll('"', '\\"')}"`);
}

/**
 * `contains` first: a plain substring test that skips the JSON parse on the
 * spans that lack the key (most of them). It never changes the answer, only
 * when json_type runs.
 */
function has(key: string, col: string): string {
  return `(contains(${col}, ${sqlString(JSON.stringify(key))}) AND coalesce(json_type(${col}, ${path(key)}), 'NULL') <> 'NULL')`;
}

function list(xs: readonly string[]): string {
  return xs.map(sqlString).join(", ");
}

function step(r: LlmCallRule, name: string, attrs: string): string {
  switch (r.by) {
    case "name":
      return `WHEN ${name} IN (${list(r.names)}) THEN ${r.llm ? "TRUE" : "FALSE"}`;
    case "attr":
      return `WHEN contains(${attrs}, ${sqlString(JSON.stringify(r.key))}) AND json_type(${attrs}, ${path(r.key)}) = 'VARCHAR' THEN json_extract_string(${attrs}, ${path(r.key)}) IN (${list(r.llm)})`;
    case "present":
      return `WHEN ${r.keys.map((k) => has(k, attrs)).join(" OR ")} THEN TRUE`;
  }
}

/**
 * A cheap superset of the rule: a span can only be a call if one of the
 * rules' names matches or its JSON holds a key of a "true" step. Most spans
 * (tools, rewards, steps) fail it on a few substring tests and never reach
 * the JSON functions.
 */
function gate(name: string, attrs: string): string {
  const names = LLM_CALL_RULES.flatMap((r) => (r.by === "name" && r.llm ? r.names : []));
  const keys = LLM_CALL_RULES.flatMap((r) => (r.by === "attr" ? [r.key] : r.by === "present" ? r.keys : []));
  // Keys share a few prefixes ("gen_ai.", "llm."): test each distinct prefix up to its first dot once.
  const prefixes = [...new Set(keys.map((k) => `"${k.slice(0, k.indexOf(".") + 1 || k.length)}`))];
  return `(${name} IN (${list(names)}) OR ${prefixes.map((p) => `contains(${attrs}, ${sqlString(p)})`).join(" OR ")})`;
}

/** isLlmCall(name, attributes) as SQL; column names default to the span Parquet layout's. */
export function llmCallSql(cols: { name?: string; attributes?: string } = {}): string {
  const name = cols.name ?? "name";
  const attrs = cols.attributes ?? "attributes";
  return `(${gate(name, attrs)} AND CASE ${LLM_CALL_RULES.map((r) => step(r, name, attrs)).join(" ")} ELSE FALSE END)`;
}

export const LLM_CALL_SQL = llmCallSql();

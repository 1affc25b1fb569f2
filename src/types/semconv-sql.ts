// The LLM-call rule of semconv.ts compiled to a DuckDB predicate over span
// columns (`name`, and `attributes` as JSON text), so SQL answers exactly as
// isLlmCall(): the store's WAL-to-Parquet writer fills the `is_llm_call`
// column with it, and frames compute that column with it for part files
// written before the column existed.

import { LLM_CALL_RULES, type LlmCallRule } from "./semconv.js";

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

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
 * rules' "true" names matches or its attribute JSON holds a key of a "true"
 * step, which shows as one of `substrings` ("gen_ai." etc. with the opening
 * quote: keys share a few prefixes, each tested once). Most spans (tools,
 * rewards, steps) fail it on a few substring tests and never reach the JSON
 * functions. Exported for readers that apply the rule to JSON text in JS.
 */
export const LLM_CALL_GATE: { names: readonly string[]; substrings: readonly string[] } = (() => {
  const names = LLM_CALL_RULES.flatMap((r) => (r.by === "name" && r.llm ? r.names : []));
  const keys = LLM_CALL_RULES.flatMap((r) => (r.by === "attr" ? [r.key] : r.by === "present" ? r.keys : []));
  return { names, substrings: [...new Set(keys.map((k) => `"${k.slice(0, k.indexOf(".") + 1 || k.length)}`))] };
})();

function gate(name: string, attrs: string): string {
  const g = LLM_CALL_GATE;
  return `(${name} IN (${list(g.names)}) OR ${g.substrings.map((p) => `contains(${attrs}, ${sqlString(p)})`).join(" OR ")})`;
}

/** isLlmCall(name, attributes) as SQL; column names default to the span Parquet layout's. */
export function llmCallSql(cols: { name?: string; attributes?: string } = {}): string {
  const name = cols.name ?? "name";
  const attrs = cols.attributes ?? "attributes";
  return `(${gate(name, attrs)} AND CASE ${LLM_CALL_RULES.map((r) => step(r, name, attrs)).join(" ")} ELSE FALSE END)`;
}

export const LLM_CALL_SQL = llmCallSql();

// Part files written before a span column existed lack it (parts are never
// rewritten, parquet-layout.ts). Readers give such a part the column anyway:
// derived columns are computed from the columns they copy, by the same rule
// the writer applies, and anything else reads as null.

import { bool, columnFromArray, nullType, type Batch, type Table } from "@uwdata/flechette";
import { parseJsonText } from "../types/json.js";
import { isLlmCall } from "../types/semconv.js";
import { LLM_CALL_GATE, llmCallSql } from "../types/semconv-sql.js";

export { DERIVED_FROM } from "./parquet-ipc.js";

/** The column as a DuckDB expression over a part that lacks it (SQL over the same source columns). */
export function derivedSql(column: string): string {
  if (column === "is_llm_call") return llmCallSql();
  throw new Error(`no SQL for the derived column ${column}`);
}

/** isLlmCall over the attributes column's JSON text; the gate skips the parse for spans that cannot be calls (most). */
export function isLlmCallText(name: string, attributesJson: string | null): boolean {
  if (!LLM_CALL_GATE.names.includes(name) && !(attributesJson !== null && LLM_CALL_GATE.substrings.some((s) => attributesJson.includes(s))))
    return false;
  const a = attributesJson === null ? null : parseJsonText(attributesJson);
  return isLlmCall(name, a !== null && typeof a === "object" && !Array.isArray(a) ? (a as Record<string, unknown>) : null);
}

/**
 * Arrow batches standing in for `column` in a part's table that lacks it:
 * computed when the column is derived (the read brought its source columns),
 * else all null.
 */
export function missingColumnBatches(column: string, table: Table): Batch<unknown>[] {
  const n = table.numRows;
  if (column === "is_llm_call") {
    const names = table.getChild("name");
    const attrs = table.getChild("attributes");
    if (names && attrs) {
      const out = new Array<boolean>(n);
      for (let i = 0; i < n; i++) out[i] = isLlmCallText(names.at(i) as string, attrs.at(i) as string | null);
      return columnFromArray(out, bool()).data as Batch<unknown>[];
    }
  }
  return columnFromArray(new Array(n).fill(null), nullType()).data as Batch<unknown>[];
}

// One Parquet file's projected columns as Arrow IPC bytes (parquet-wasm).
// Shared by the main thread and the decoding workers (parquet-worker.ts).

import { openAsBlob } from "node:fs";
import { ParquetFile, type Schema } from "parquet-wasm";

/**
 * Columns added to the span layout after parts were first written, which an
 * old part lacks, and the columns each is computed from (legacy-columns.ts
 * computes them). Here, not there, so the decoding workers load nothing else.
 */
export const DERIVED_FROM: Readonly<Record<string, readonly string[]>> = {
  is_llm_call: ["name", "attributes"],
};

/**
 * Rows per Arrow batch: a part's row groups (8k rows) come out as a few
 * large batches instead of one per 1024 rows, so a column over a million
 * rows finds a row's batch in fewer steps.
 */
const BATCH_ROWS = 1 << 16;

function hasField(schema: Schema, name: string): boolean {
  try {
    return schema.indexOf(name) >= 0;
  } catch {
    // parquet-wasm throws for a name the file does not hold.
    return false;
  }
}

/**
 * A Blob over the file on disk: parquet-wasm reads the footer and only the
 * projected column chunks. Columns the file lacks (a part written before
 * they existed) are left out of the IPC; for a derived one its source
 * columns are read instead, so the reader can compute it (legacy-columns.ts).
 */
export async function parquetToIpc(path: string, columns: readonly string[]): Promise<Uint8Array> {
  const file = await ParquetFile.fromFile(await openAsBlob(path));
  try {
    const schema = file.schema();
    const read = new Set<string>();
    try {
      for (const c of columns) {
        if (hasField(schema, c)) read.add(c);
        else for (const src of DERIVED_FROM[c] ?? []) if (hasField(schema, src)) read.add(src);
      }
    } finally {
      schema.free();
    }
    const t = await file.read({ columns: [...read], batchSize: BATCH_ROWS });
    // Already a copy out of wasm memory (wasm-bindgen slices it), which the worker transfers as is.
    return t.intoIPCStream();
  } finally {
    file.free();
  }
}

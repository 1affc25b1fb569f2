// One Parquet file's projected columns as Arrow IPC bytes (parquet-wasm).
// Shared by the main thread and the decoding worker (parquet-worker.ts).

import { openAsBlob } from "node:fs";
import { ParquetFile } from "parquet-wasm";

/** A Blob over the file on disk: parquet-wasm reads the footer and only the projected column chunks. */
export async function parquetToIpc(path: string, columns: readonly string[]): Promise<Uint8Array> {
  const file = await ParquetFile.fromFile(await openAsBlob(path));
  try {
    const t = await file.read({ columns: [...columns] });
    const ipc = t.intoIPCStream();
    // Bytes that still sit in a larger buffer (wasm memory) are copied, so they can be transferred.
    return ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength ? ipc : ipc.slice();
  } finally {
    file.free();
  }
}

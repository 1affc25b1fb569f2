// The decoding worker: turns Parquet files into Arrow IPC bytes off the main
// thread, so a large read uses a second core. Messages: { id, files, columns }
// in; { id, ipc } or { id, error } out, the IPC buffers transferred.

import { parentPort } from "node:worker_threads";
import { parquetToIpc } from "./parquet-ipc.js";

interface Job {
  id: number;
  files: string[];
  columns: string[];
}

parentPort!.on("message", async (job: Job) => {
  try {
    const ipc: Uint8Array[] = [];
    for (const f of job.files) ipc.push(await parquetToIpc(f, job.columns));
    parentPort!.postMessage({ id: job.id, ipc }, ipc.map((b) => b.buffer as ArrayBuffer));
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message ?? String(e) });
  }
});

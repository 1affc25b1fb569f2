// A decoding worker: turns Parquet files into Arrow IPC bytes off the main
// thread, so a large read uses the machine's cores. Messages: { id, file,
// columns } in; { id, ipc } (its buffer transferred, not copied) or
// { id, error } out.

import { parentPort } from "node:worker_threads";
import { parquetToIpc } from "./parquet-ipc.js";

interface Job {
  id: number;
  file: string;
  columns: string[];
}

parentPort!.on("message", async (job: Job) => {
  try {
    const ipc = await parquetToIpc(job.file, job.columns);
    parentPort!.postMessage({ id: job.id, ipc }, [ipc.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message ?? String(e) });
  }
});

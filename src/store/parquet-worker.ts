// Worker thread that folds sealed WAL segments into Parquet parts, so the
// JSON parsing and DuckDB appends of a checkpoint run beside ingest, not in
// its way.

import { parentPort } from "node:worker_threads";
import { SpanParquetIO } from "./parquet-io.js";

export interface PartJob {
  id: number;
  walPath: string | null;
  partPath: string;
}

const io = new SpanParquetIO();
parentPort!.on("message", (job: PartJob) => {
  io.writePartFromWal(job.walPath, job.partPath).then(
    () => parentPort!.postMessage({ id: job.id, ok: true }),
    (e: unknown) => parentPort!.postMessage({ id: job.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});

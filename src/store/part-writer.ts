// Runs checkpoint Parquet writes in a worker thread when one can start, in
// this thread otherwise (same result, just slower ingest while it runs).

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { SpanParquetIO } from "./parquet-io.js";
import type { PartJob } from "./parquet-worker.js";

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

const WORKER_MIN_SPANS = 5000;

export class PartWriter {
  private worker: Worker | null = null;
  private local: SpanParquetIO | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 0;

  private startWorker(): Worker | null {
    if (this.worker) return this.worker;
    // Built code runs the .js worker; run from source (tsx: tests, benches) the .ts one, with tsx registered inside the worker.
    const js = new URL("./parquet-worker.js", import.meta.url);
    try {
      let w: Worker;
      if (existsSync(fileURLToPath(js))) w = new Worker(js);
      else {
        const tsx = import.meta.resolve("tsx/esm/api");
        const ts = new URL("./parquet-worker.ts", import.meta.url).href;
        w = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`, { eval: true });
      }
      w.unref();
      w.on("message", (m: { id: number; ok: boolean; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.ok) p.resolve();
        else p.reject(new Error(`Parquet part write failed: ${m.error}`));
        if (!this.pending.size) w.unref();
      });
      w.on("error", (e) => this.failAll(e));
      w.on("exit", () => {
        this.failAll(new Error("Parquet worker exited"));
        this.worker = null;
      });
      this.worker = w;
      return w;
    } catch {
      return null;
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /**
   * Writes the spans of a WAL segment (null: none) to a Parquet part,
   * atomically. Small parts are written here: starting a worker costs more
   * than it saves.
   */
  write(walPath: string | null, partPath: string, spanCount: number): Promise<void> {
    const w = this.worker ?? (spanCount >= WORKER_MIN_SPANS ? this.startWorker() : null);
    if (!w) {
      this.local ??= new SpanParquetIO();
      return this.local.writePartFromWal(walPath, partPath);
    }
    const id = ++this.nextId;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while a part is being written.
      w.ref();
      const job: PartJob = { id, walPath, partPath };
      w.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.local?.close();
    this.local = null;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

// The main thread's side of the type-check worker: requests as promises. The
// worker is created on start() (the kernel holds it back until the first cell
// is answered: loading a second compiler would slow that cell on two cores);
// requests made before then wait for it.
import { Worker } from "node:worker_threads";
import type { Completions } from "./type-checker.js";
import type { CheckerReply, CheckerWorkerData, ToChecker } from "./thread-messages.js";
import type { TsDiagnostic } from "./tslab.js";

type Request = ToChecker extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class CheckerClient {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly backlog: ToChecker[] = [];
  private failed: Error | undefined;
  private readonly activity = new Int32Array(new SharedArrayBuffer(8));
  private readonly epochMs = Date.now();

  /** Tells the worker a cell started or ended: checks wait while quick cells are being answered. */
  cellRunning(running: boolean): void {
    Atomics.store(this.activity, 1, Date.now() - this.epochMs);
    Atomics.store(this.activity, 0, running ? 1 : 0);
  }

  start(): void {
    if (this.worker || this.failed) return;
    const workerData: CheckerWorkerData = { activity: this.activity.buffer as SharedArrayBuffer, epochMs: this.epochMs };
    const w = new Worker(new URL("./checker-worker.js", import.meta.url), { workerData, stdout: false, stderr: false });
    this.worker = w;
    w.on("message", (r: CheckerReply) => {
      const p = this.waiting.get(r.id);
      if (!p) return;
      this.waiting.delete(r.id);
      if (r.error !== undefined) p.reject(new Error(r.error));
      else p.resolve(r.value);
    });
    const fail = (e: Error) => {
      this.failed = new Error(`the type-check worker stopped: ${e.message}`);
      for (const p of this.waiting.values()) p.reject(this.failed);
      this.waiting.clear();
    };
    w.on("error", fail);
    w.on("exit", (code) => fail(new Error(`exit code ${code}`)));
    // The kernel exits by itself on shutdown; this thread must not keep it alive.
    w.unref();
    for (const m of this.backlog.splice(0)) w.postMessage(m);
  }

  private request<T>(req: Request): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const m = { ...req, id } as ToChecker;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.worker) this.worker.postMessage(m);
      else this.backlog.push(m);
    });
  }

  /** Checks a cell that ran (its declarations count for the cells after it). */
  check(code: string): Promise<TsDiagnostic[]> {
    return this.request({ op: "check", code });
  }

  complete(code: string, cursor: number): Promise<Completions> {
    this.start();
    return this.request({ op: "complete", code, cursor });
  }

  inspect(code: string, cursor: number): Promise<string | undefined> {
    this.start();
    return this.request({ op: "inspect", code, cursor });
  }

  close(): void {
    void this.worker?.terminate();
  }
}

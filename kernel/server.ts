// The kernel's main thread: takes requests from the socket worker
// (sockets.ts), runs cells one at a time, and sends prints, displays and
// replies back through it. Starts the worker before loading the compiler, so
// kernel_info is answered while the rest loads.
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { beginCell, setKernelHook, shownLiveThisCell, type KernelDisplayRequest } from "../src/display/hook.js";
import { toMimeBundle } from "../src/display/mime.js";
import { arclightVersion } from "../src/display/run-info.js";
import type { ConnectionInfo } from "./connection.js";
import type { CellOutcome, Executor } from "./executor.js";
import { History } from "./history.js";
import type { FromMain, SocketWorkerData, ToMain } from "./thread-messages.js";
import { child, PROTOCOL_VERSION, type Message } from "./wire.js";

const realStderrWrite = process.stderr.write.bind(process.stderr);
function logError(what: string, e?: unknown): void {
  realStderrWrite(`arclight kernel: ${what}${e === undefined ? "" : `: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`}\n`);
}

/** The TypeScript version cells are compiled with, read without loading the compiler. */
function typescriptVersion(): string {
  const req = createRequire(createRequire(import.meta.url).resolve("tslab"));
  return (req("@tslab/typescript-for-tslab/package.json") as { version: string }).version;
}

const LATE_REPORT = "\x1b[0;33mType check of an earlier cell (it finished after that cell's reply):\x1b[0m";

export function kernelInfo(): Record<string, unknown> {
  return {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "arclight",
    implementation_version: arclightVersion(),
    language_info: {
      name: "typescript",
      version: typescriptVersion(),
      mimetype: "text/typescript",
      file_extension: ".ts",
      // Makes JupyterLab and classic Notebook highlight TypeScript (same trick as tslab).
      codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
    },
    banner: `Arclight ${arclightVersion()} (TypeScript on Node ${process.version}); \`agl\` is imported in every cell (it loads on first use)`,
    help_links: [],
    debugger: false,
  };
}

export class KernelServer {
  private readonly session = randomUUID();
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;
  private readonly history = new History();
  private executor: Executor | undefined;
  private executionCount = 0;
  private parent: Message | undefined;
  private readonly queue: Array<{ msg: Message; seq: number }> = [];
  /** Type-check reports that came after their cell's reply: shown at the top of the next cell's output. */
  private readonly lateTypeReports: string[] = [];
  private backgroundStarted = false;
  private readonly early: ToMain[] = [];
  private draining = false;
  private readonly bound: Promise<void>;
  private readonly infoSent: Promise<void>;

  constructor(conn: ConnectionInfo) {
    const workerData: SocketWorkerData = {
      conn,
      session: this.session,
      interruptFlag: this.flag.buffer as SharedArrayBuffer,
      kernelInfo: kernelInfo(),
    };
    this.worker = new Worker(new URL("./sockets.js", import.meta.url), { workerData, stdout: false, stderr: false });
    let infoSent!: () => void;
    this.infoSent = new Promise((r) => (infoSent = r));
    this.bound = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      this.worker.on("message", (m: ToMain) => {
        if (m.op === "bound") resolve();
        else if (m.op === "info-sent") infoSent();
        else if (this.executor) this.onMessage(m);
        else this.early.push(m);
      });
    });
    this.worker.on("error", (e) => logError("socket worker failed", e));
    this.captureOutput();
    setKernelHook({
      display: (req) => this.sendDisplay(req),
      clearOutput: (wait) => {
        this.publish("clear_output", { wait });
        this.flush();
      },
    });
    process.on("uncaughtException", (e) =>
      process.stderr.write(`Uncaught exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`),
    );
    process.on("unhandledRejection", (e) =>
      process.stderr.write(`Unhandled promise rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`),
    );
  }

  /** Resolves once the sockets are bound (kernel_info is answered from then on). */
  started(): Promise<void> {
    return this.bound;
  }

  /**
   * Resolves a moment after the first kernel_info reply went out (a client's handshake takes a round
   * or two), or after `capMs`: loading the compiler on a 2-core machine would slow that handshake.
   */
  handshake(capMs = 2000): Promise<void> {
    const settle = this.infoSent.then(() => new Promise<void>((r) => setTimeout(r, 250)));
    return Promise.race([settle, new Promise<void>((r) => setTimeout(r, capMs))]);
  }

  /** The shared interrupt flag the executor's checks read. */
  get interruptFlag(): Int32Array {
    return this.flag;
  }

  /** Starts serving requests that need the compiler; those that came early are served in order. */
  attach(executor: Executor): void {
    this.executor = executor;
    // Ctrl-C in a terminal, or a kernelspec with interrupt_mode "signal".
    process.on("SIGINT", () => {
      const current = this.queue[0]?.seq ?? this.runningSeq;
      if (current !== undefined) Atomics.store(this.flag, 0, current);
      executor.interrupt();
    });
    for (const m of this.early.splice(0)) this.onMessage(m);
    // The type checker and `agl` load after the first cell is answered, or now if none comes soon.
    setTimeout(() => this.startBackground(), 1500).unref();
  }

  private startBackground(): void {
    if (this.backgroundStarted) return;
    this.backgroundStarted = true;
    this.executor!.startBackground();
  }

  private runningSeq: number | undefined;

  /** Messages waiting for the end of this turn (or a flush): a turn's messages cross to the worker as one. */
  private outbox: FromMain[] = [];

  private toWorker(m: FromMain): void {
    if (this.outbox.push(m) === 1) queueMicrotask(() => this.flush());
  }

  /** Sends what waits now: before a cell runs (it may not yield for long) and before live output. */
  private flush(): void {
    if (this.outbox.length === 0) return;
    const messages = this.outbox;
    this.outbox = [];
    this.worker.postMessage(messages.length === 1 ? messages[0] : { op: "batch", messages });
  }

  private onMessage(m: ToMain): void {
    switch (m.op) {
      case "request":
        if (m.msg.header.msg_type === "execute_request") {
          this.queue.push({ msg: m.msg, seq: m.seq ?? -1 });
          void this.drain();
        } else void this.handle(m.msg, m.channel).catch((e: unknown) => logError(`handling ${m.msg.header.msg_type}`, e));
        return;
      case "interrupt":
        if (m.seq === this.runningSeq) this.executor!.interrupt();
        return;
      case "shutdown":
        this.executor?.close();
        this.toWorker({ op: "close" });
        this.flush();
        setTimeout(() => process.exit(0), 50);
        return;
    }
  }

  private send(channel: "iopub" | "shell" | "control", parent: Message | undefined, type: string, content: Record<string, unknown>): void {
    this.toWorker({ op: "send", channel, msg: child(parent, type, content, this.session) });
  }

  private publish(type: string, content: Record<string, unknown>, parent = this.parent): void {
    this.send("iopub", parent, type, content);
  }

  // Cells print through console / process.stdout: each write goes to the worker at once, which streams it.
  private captureOutput(): void {
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
        const text =
          typeof chunk === "string"
            ? chunk
            : Buffer.from(chunk as Uint8Array).toString(typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
        this.toWorker({ op: "stream", name, text, parent: this.parent?.header });
        this.flush();
        const done = typeof encoding === "function" ? encoding : cb;
        if (typeof done === "function") (done as () => void)();
        return true;
      }) as typeof stream.write;
    }
  }

  private sendDisplay(req: KernelDisplayRequest): void {
    const content: Record<string, unknown> = { data: req.bundle, metadata: req.metadata ?? {} };
    if (req.displayId !== undefined) content.transient = { display_id: req.displayId };
    this.publish(req.update ? "update_display_data" : "display_data", content);
    this.flush();
  }

  private async handle(msg: Message, channel: "shell" | "control"): Promise<void> {
    const ex = this.executor!;
    const c = msg.content;
    const type = msg.header.msg_type;
    const reply = (t: string, content: Record<string, unknown>) => this.send(channel, msg, t, content);
    this.publish("status", { execution_state: "busy" }, msg);
    try {
      switch (type) {
        case "is_complete_request":
          reply("is_complete_reply", ex.isComplete(String(c.code ?? "")));
          break;
        case "complete_request": {
          const code = String(c.code ?? "");
          const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : code.length;
          const r = await ex.complete(code, cursor);
          reply("complete_reply", { status: "ok", matches: r.matches, cursor_start: r.start, cursor_end: r.end, metadata: {} });
          break;
        }
        case "inspect_request": {
          const code = String(c.code ?? "");
          const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : code.length;
          const text = await ex.inspect(code, cursor);
          reply("inspect_reply", {
            status: "ok",
            found: text !== undefined,
            data: text !== undefined ? { "text/plain": text } : {},
            metadata: {},
          });
          break;
        }
        case "history_request":
          reply("history_reply", { status: "ok", history: this.history.query(c) });
          break;
        default:
          logError(`unhandled message type ${type}`);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reply(type.replace(/_request$/, "_reply"), {
        status: "error",
        ename: err.name,
        evalue: err.message,
        traceback: [err.stack ?? err.message],
      });
    } finally {
      this.publish("status", { execution_state: "idle" }, msg);
    }
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const { msg, seq } = this.queue[0]!;
        const ok = await this.execute(msg, seq);
        this.queue.shift();
        if (!ok && msg.content.stop_on_error !== false) {
          // Like ipykernel: cells sent after a failing one are not run.
          for (const next of this.queue.splice(0)) {
            this.publish("status", { execution_state: "busy" }, next.msg);
            this.send("shell", next.msg, "execute_reply", { status: "aborted", execution_count: this.executionCount });
            this.publish("status", { execution_state: "idle" }, next.msg);
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async execute(msg: Message, seq: number): Promise<boolean> {
    const ex = this.executor!;
    const code = String(msg.content.code ?? "");
    const silent = msg.content.silent === true;
    const storeHistory = msg.content.store_history !== false && !silent;
    this.parent = msg;
    this.runningSeq = seq;
    this.publish("status", { execution_state: "busy" }, msg);
    if (storeHistory) this.executionCount += 1;
    const count = this.executionCount;
    if (!silent) this.publish("execute_input", { code, execution_count: count }, msg);
    const entry = storeHistory ? this.history.add(count, code) : undefined;
    if (!silent) for (const text of this.lateTypeReports.splice(0)) this.publish("stream", { name: "stderr", text }, msg);
    // The client sees the cell start before it runs, however long it keeps this thread busy.
    this.flush();
    beginCell();
    let ok = true;
    let reply: Record<string, unknown> = {
      status: "error",
      execution_count: count,
      ename: "InternalError",
      evalue: "the kernel failed to run the cell",
      traceback: [],
    };
    try {
      const outcome: CellOutcome =
        code.trim() === ""
          ? { status: "ok", hasValue: false }
          : await ex.execute(code, storeHistory ? String(count) : `silent-${randomUUID().slice(0, 8)}`, seq);
      const check = outcome.typeCheck;
      if (check?.settled) {
        if (check.report !== undefined && !silent) this.publish("stream", { name: "stderr", text: check.report }, msg);
      } else if (check && !silent) {
        void check.done.then((report) => {
          if (report !== undefined) this.lateTypeReports.push(`${LATE_REPORT}\n${report}`);
        });
      }
      if (outcome.status === "ok") {
        if (outcome.hasValue && !silent && !shownLiveThisCell(outcome.value)) {
          let data;
          try {
            data = toMimeBundle(outcome.value);
          } catch (e) {
            data = { "text/plain": `(display failed: ${e instanceof Error ? e.message : String(e)})` };
          }
          if (entry && typeof data["text/plain"] === "string") entry.output = data["text/plain"] as string;
          this.publish("execute_result", { execution_count: count, data, metadata: {} });
        }
        reply = { status: "ok", execution_count: count, payload: [], user_expressions: {} };
      } else {
        ok = false;
        const { ename, evalue, traceback } = outcome;
        if (!silent) this.publish("error", { ename, evalue, traceback });
        reply = { status: "error", execution_count: count, ename, evalue, traceback };
      }
    } finally {
      this.runningSeq = undefined;
      // Idle goes out first: a client that reads iopub only briefly after the reply (jupyter_kernel_test
      // waits 0.1 s) then finds it there even when this machine is slow; clients that wait for both
      // take either order.
      this.publish("status", { execution_state: "idle" }, msg);
      this.send("shell", msg, "execute_reply", reply);
      if (!this.backgroundStarted) setImmediate(() => this.startBackground());
    }
    return ok && reply.status === "ok";
  }
}

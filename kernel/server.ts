// The kernel process: Jupyter's five sockets, message dispatch, output
// capture and the display hook the library talks to.
import { randomUUID } from "node:crypto";
import * as zmq from "zeromq";
import { setKernelHook, type KernelDisplayRequest } from "../src/display/hook.js";
import { toMimeBundle } from "../src/display/mime.js";
import { arclightVersion } from "../src/display/run-info.js";
import type { ConnectionInfo } from "./connection.js";
import { Executor } from "./executor.js";
import { History } from "./history.js";
import { tsx } from "./tslab.js";
import { child, decode, encode, PROTOCOL_VERSION, type Message } from "./wire.js";

type Sendable = zmq.Publisher | zmq.Router | zmq.Reply;

/** zeromq sockets take one send at a time: queue them, in order. */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly sock: Sendable) {}
  send(frames: Buffer[]): Promise<void> {
    this.tail = this.tail.then(() => this.sock.send(frames)).catch((e: unknown) => logError("send failed", e));
    return this.tail;
  }
  flushed(): Promise<void> {
    return this.tail;
  }
}

const realStderrWrite = process.stderr.write.bind(process.stderr);
function logError(what: string, e?: unknown): void {
  realStderrWrite(`arclight kernel: ${what}${e === undefined ? "" : `: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`}\n`);
}

export class KernelServer {
  private readonly session = randomUUID();
  private readonly iopub = new zmq.Publisher();
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly stdin = new zmq.Router();
  private readonly hb = new zmq.Reply();
  private readonly iopubQ = new SendQueue(this.iopub);
  private readonly shellQ = new SendQueue(this.shell);
  private readonly controlQ = new SendQueue(this.control);
  private readonly history = new History();
  private executionCount = 0;
  private parent: Message | undefined;
  private readonly pendingStream: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  private streamTimer: NodeJS.Timeout | undefined;
  private readonly queue: Array<{ msg: Message; sock: SendQueue }> = [];
  private draining = false;
  private closed = false;

  constructor(
    private readonly conn: ConnectionInfo,
    private readonly executor: Executor,
  ) {}

  async start(): Promise<void> {
    const addr = (port: number) => `${this.conn.transport}://${this.conn.ip}:${port}`;
    await Promise.all([
      this.iopub.bind(addr(this.conn.iopub_port)),
      this.shell.bind(addr(this.conn.shell_port)),
      this.control.bind(addr(this.conn.control_port)),
      this.stdin.bind(addr(this.conn.stdin_port)),
      this.hb.bind(addr(this.conn.hb_port)),
    ]);
    this.captureOutput();
    setKernelHook({
      display: (req) => this.sendDisplay(req),
      clearOutput: (wait) => this.publish("clear_output", { wait }),
    });
    process.on("SIGINT", () => this.executor.interrupt());
    process.on("uncaughtException", (e) => process.stderr.write(`Uncaught exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
    process.on("unhandledRejection", (e) => process.stderr.write(`Unhandled promise rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
    void this.loop(this.shell, this.shellQ);
    void this.loop(this.control, this.controlQ);
    void this.heartbeat();
    this.publish("status", { execution_state: "starting" });
  }

  private async heartbeat(): Promise<void> {
    try {
      for await (const frames of this.hb) await this.hb.send(frames);
    } catch (e) {
      if (!this.closed) logError("heartbeat stopped", e);
    }
  }

  private async loop(sock: zmq.Router, q: SendQueue): Promise<void> {
    try {
      for await (const frames of sock) {
        let msg: Message;
        try {
          msg = decode(this.conn.key, frames);
        } catch (e) {
          logError("dropped a message", e);
          continue;
        }
        if (msg.header.msg_type === "execute_request") {
          this.queue.push({ msg, sock: q });
          void this.drain();
        } else {
          await this.handle(msg, q).catch((e: unknown) => logError(`handling ${msg.header.msg_type}`, e));
        }
      }
    } catch (e) {
      if (!this.closed) logError("socket loop stopped", e);
    }
  }

  private reply(q: SendQueue, parent: Message, type: string, content: Record<string, unknown>): Promise<void> {
    return q.send(encode(this.conn.key, child(parent, type, content, this.session)));
  }

  private publish(type: string, content: Record<string, unknown>, parent = this.parent): Promise<void> {
    if (type !== "stream") this.flushStreams();
    const msg = child(parent, type, content, this.session);
    msg.identities = [Buffer.from(type)];
    return this.iopubQ.send(encode(this.conn.key, msg));
  }

  private flushStreams(): void {
    if (this.streamTimer) {
      clearTimeout(this.streamTimer);
      this.streamTimer = undefined;
    }
    for (const name of ["stdout", "stderr"] as const) {
      const text = this.pendingStream[name];
      if (text === "") continue;
      this.pendingStream[name] = "";
      void this.publish("stream", { name, text });
    }
  }

  // Cells print through console / process.stdout: forward to iopub, coalesced over a few ms so a
  // tight loop of prints does not become thousands of messages.
  private captureOutput(): void {
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
        const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
        this.pendingStream[name] += text;
        this.streamTimer ??= setTimeout(() => this.flushStreams(), 20);
        const done = typeof encoding === "function" ? encoding : cb;
        if (typeof done === "function") (done as () => void)();
        return true;
      }) as typeof stream.write;
    }
  }

  private sendDisplay(req: KernelDisplayRequest): void {
    const content: Record<string, unknown> = { data: req.bundle, metadata: req.metadata ?? {} };
    if (req.displayId !== undefined) content.transient = { display_id: req.displayId };
    void this.publish(req.update ? "update_display_data" : "display_data", content);
  }

  private kernelInfo(): Record<string, unknown> {
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "arclight",
      implementation_version: arclightVersion(),
      language_info: {
        name: "typescript",
        version: String(tsx.version),
        mimetype: "text/typescript",
        file_extension: ".ts",
        // Makes JupyterLab and classic Notebook highlight TypeScript (same trick as tslab).
        codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
      },
      banner: `Arclight ${arclightVersion()} (TypeScript on Node ${process.version}); \`agl\` is loaded`,
      help_links: [],
      debugger: false,
    };
  }

  private async handle(msg: Message, q: SendQueue): Promise<void> {
    const c = msg.content;
    const type = msg.header.msg_type;
    void this.publish("status", { execution_state: "busy" }, msg);
    try {
      switch (type) {
        case "kernel_info_request":
          await this.reply(q, msg, "kernel_info_reply", this.kernelInfo());
          break;
        case "is_complete_request":
          await this.reply(q, msg, "is_complete_reply", this.executor.isComplete(String(c.code ?? "")));
          break;
        case "complete_request": {
          const code = String(c.code ?? "");
          const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : code.length;
          const r = this.executor.complete(code, cursor);
          await this.reply(q, msg, "complete_reply", { status: "ok", matches: r.matches, cursor_start: r.start, cursor_end: r.end, metadata: {} });
          break;
        }
        case "inspect_request": {
          const code = String(c.code ?? "");
          const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : code.length;
          const text = this.executor.inspect(code, cursor);
          await this.reply(q, msg, "inspect_reply", { status: "ok", found: text !== undefined, data: text !== undefined ? { "text/plain": text } : {}, metadata: {} });
          break;
        }
        case "history_request":
          await this.reply(q, msg, "history_reply", { status: "ok", history: this.history.query(c) });
          break;
        case "comm_info_request":
          await this.reply(q, msg, "comm_info_reply", { status: "ok", comms: {} });
          break;
        case "comm_open":
          // No comm targets: close it so the frontend does not wait.
          void this.publish("comm_close", { comm_id: c.comm_id, data: {} }, msg);
          break;
        case "comm_msg":
        case "comm_close":
          break;
        case "interrupt_request":
          this.executor.interrupt();
          await this.reply(q, msg, "interrupt_reply", { status: "ok" });
          break;
        case "shutdown_request":
          await this.reply(q, msg, "shutdown_reply", { status: "ok", restart: c.restart === true });
          await this.publish("status", { execution_state: "idle" }, msg);
          await this.close();
          process.exit(0);
          break;
        default:
          logError(`unhandled message type ${type}`);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      await this.reply(q, msg, type.replace(/_request$/, "_reply"), { status: "error", ename: err.name, evalue: err.message, traceback: [err.stack ?? err.message] });
    } finally {
      void this.publish("status", { execution_state: "idle" }, msg);
    }
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const { msg, sock } = this.queue.shift()!;
        const ok = await this.execute(msg, sock);
        if (!ok && msg.content.stop_on_error !== false) {
          // Like ipykernel: cells sent after a failing one are not run.
          for (const next of this.queue.splice(0)) {
            void this.publish("status", { execution_state: "busy" }, next.msg);
            await this.reply(next.sock, next.msg, "execute_reply", { status: "aborted", execution_count: this.executionCount });
            void this.publish("status", { execution_state: "idle" }, next.msg);
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async execute(msg: Message, q: SendQueue): Promise<boolean> {
    const code = String(msg.content.code ?? "");
    const silent = msg.content.silent === true;
    const storeHistory = msg.content.store_history !== false && !silent;
    this.flushStreams();
    this.parent = msg;
    void this.publish("status", { execution_state: "busy" }, msg);
    if (storeHistory) this.executionCount += 1;
    const count = this.executionCount;
    if (!silent) void this.publish("execute_input", { code, execution_count: count }, msg);
    const entry = storeHistory ? this.history.add(count, code) : undefined;
    let ok = true;
    try {
      const outcome = code.trim() === "" ? ({ status: "ok", hasValue: false } as const) : await this.executor.execute(code, storeHistory ? String(count) : `silent-${randomUUID().slice(0, 8)}`);
      if (outcome.status === "ok") {
        if (outcome.hasValue && !silent) {
          let data;
          try {
            data = toMimeBundle(outcome.value);
          } catch (e) {
            data = { "text/plain": `(display failed: ${e instanceof Error ? e.message : String(e)})` };
          }
          if (entry && typeof data["text/plain"] === "string") entry.output = data["text/plain"] as string;
          void this.publish("execute_result", { execution_count: count, data, metadata: {} });
        }
        await this.reply(q, msg, "execute_reply", { status: "ok", execution_count: count, payload: [], user_expressions: {} });
      } else {
        ok = false;
        const { ename, evalue, traceback } = outcome;
        if (!silent) void this.publish("error", { ename, evalue, traceback });
        await this.reply(q, msg, "execute_reply", { status: "error", execution_count: count, ename, evalue, traceback });
      }
    } finally {
      this.flushStreams();
      await this.publish("status", { execution_state: "idle" }, msg);
    }
    return ok;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.flushStreams();
    await this.iopubQ.flushed();
    this.executor.close();
    for (const s of [this.iopub, this.shell, this.control, this.stdin, this.hb]) s.close();
  }
}

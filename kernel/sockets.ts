// The kernel's Jupyter sockets, in a worker thread of their own. The main
// thread runs cells; while a cell keeps it busy (a training loop that never
// awaits), this thread still streams the prints and displays it posts, answers
// heartbeats and kernel_info, and takes interrupts (it raises a shared flag the
// cell's loops check, so an interrupt counts whenever it arrives).
import { writeSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import type { ConnectionInfo } from "./connection.js";
import type { FromMain, SocketWorkerData, ToMain } from "./thread-messages.js";
import { child, decode, encode, type Header, type Message } from "./wire.js";

const data = workerData as SocketWorkerData;
const conn: ConnectionInfo = data.conn;
const flag = new Int32Array(data.interruptFlag);
const port = parentPort!;

function logError(what: string, e?: unknown): void {
  // Not process.stderr: a worker's stderr goes through the main thread, which may be busy.
  writeSync(2, `arclight kernel: ${what}${e === undefined ? "" : `: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`}\n`);
}

type Sendable = zmq.XPublisher | zmq.Router | zmq.Reply;
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly sock: Sendable) {}
  send(frames: Buffer[]): Promise<void> {
    this.tail = this.tail.then(() => this.sock.send(frames)).catch((e: unknown) => logError("send failed", e));
    return this.tail;
  }
}

// An XPUB sees each client subscribe: it greets it at once (see welcome()).
const iopub = new zmq.XPublisher({ verbosity: "allSubs" });
const shell = new zmq.Router();
const control = new zmq.Router();
const stdin = new zmq.Router();
const hb = new zmq.Reply();
const queues = { iopub: new SendQueue(iopub), shell: new SendQueue(shell), control: new SendQueue(control) };
let closed = false;

/** Execute requests handed to the main thread and not yet answered, by msg_id, with their sequence number. */
const inFlight = new Map<string, number>();
let seq = 0;

// Prints coalesce for a few ms so a tight loop of prints is not thousands of messages.
let pending: { parent: Header | undefined; stdout: string; stderr: string } = { parent: undefined, stdout: "", stderr: "" };
let streamTimer: NodeJS.Timeout | undefined;

function flushStreams(): void {
  if (streamTimer) clearTimeout(streamTimer);
  streamTimer = undefined;
  const p = pending;
  pending = { parent: p.parent, stdout: "", stderr: "" };
  for (const name of ["stdout", "stderr"] as const) {
    if (p[name] === "") continue;
    sendIOPub(child(parentMsg(p.parent), "stream", { name, text: p[name] }, data.session));
  }
}

function parentMsg(h: Header | undefined): Message | undefined {
  return h === undefined ? undefined : { identities: [], header: h, parent_header: {}, metadata: {}, content: {}, buffers: [] };
}

function sendIOPub(msg: Message): void {
  msg.identities = [Buffer.from(msg.header.msg_type)];
  void queues.iopub.send(encode(conn.key, msg));
}

function publish(parent: Message | undefined, type: string, content: Record<string, unknown>): void {
  flushStreams();
  sendIOPub(child(parent, type, content, data.session));
}

function reply(q: SendQueue, parent: Message, type: string, content: Record<string, unknown>): Promise<void> {
  return q.send(encode(conn.key, child(parent, type, content, data.session)));
}

function post(m: ToMain): void {
  port.postMessage(m);
}

function interrupt(): void {
  const first = inFlight.values().next();
  if (first.done) return;
  // The cell with this number stops at its next loop turn, call or await, even if it has not started yet.
  Atomics.store(flag, 0, first.value);
  post({ op: "interrupt", seq: first.value });
}

async function handle(msg: Message, channel: "shell" | "control"): Promise<void> {
  const q = queues[channel];
  const type = msg.header.msg_type;
  const c = msg.content;
  switch (type) {
    case "kernel_info_request":
      publish(msg, "status", { execution_state: "busy" });
      await reply(q, msg, "kernel_info_reply", data.kernelInfo);
      publish(msg, "status", { execution_state: "idle" });
      post({ op: "info-sent" });
      return;
    case "interrupt_request":
      interrupt();
      await reply(q, msg, "interrupt_reply", { status: "ok" });
      return;
    case "comm_info_request":
      await reply(q, msg, "comm_info_reply", { status: "ok", comms: {} });
      return;
    case "comm_open":
      // No comm targets: close it so the frontend does not wait.
      publish(msg, "comm_close", { comm_id: c.comm_id, data: {} });
      return;
    case "comm_msg":
    case "comm_close":
      return;
    case "shutdown_request":
      await reply(q, msg, "shutdown_reply", { status: "ok", restart: c.restart === true });
      publish(msg, "status", { execution_state: "idle" });
      post({ op: "shutdown" });
      // A main thread busy in a loop cannot exit by itself.
      setTimeout(() => process.kill(process.pid, "SIGKILL"), 2000).unref();
      return;
    case "execute_request":
      inFlight.set(msg.header.msg_id, ++seq);
      post({ op: "request", channel, msg, seq });
      return;
    default:
      post({ op: "request", channel, msg });
  }
}

async function loop(sock: zmq.Router, channel: "shell" | "control"): Promise<void> {
  try {
    for await (const frames of sock) {
      let msg: Message;
      try {
        msg = decode(conn.key, frames);
      } catch (e) {
        logError("dropped a message", e);
        continue;
      }
      await handle(msg, channel).catch((e: unknown) => logError(`handling ${msg.header.msg_type}`, e));
    }
  } catch (e) {
    if (!closed) logError("socket loop stopped", e);
  }
}

/**
 * Greets each new iopub subscriber with an `iopub_welcome` (JEP 65, as ipykernel 7 does). A client that
 * connects learns its subscription is live from the first iopub message it gets: jupyter_client's
 * wait_for_ready and jupyter_server's nudge resend kernel_info until one arrives, and the status
 * messages around the first reply are lost while the subscription is still on its way (ZeroMQ's
 * slow joiner), which cost a start a 0.2 s retry.
 */
async function welcome(): Promise<void> {
  try {
    for await (const [frame] of iopub) {
      if (frame?.[0] !== 1) continue;
      sendIOPub(child(undefined, "iopub_welcome", { subscription: frame.subarray(1).toString() }, data.session));
    }
  } catch (e) {
    if (!closed) logError("iopub subscriptions stopped", e);
  }
}

async function heartbeat(): Promise<void> {
  try {
    for await (const frames of hb) await hb.send(frames);
  } catch (e) {
    if (!closed) logError("heartbeat stopped", e);
  }
}

function revive(m: Message): Message {
  // Buffers arrive as plain Uint8Arrays after structured cloning.
  m.identities = m.identities.map((b) => Buffer.from(b));
  return m;
}

function fromMain(m: FromMain): void {
  switch (m.op) {
    case "batch":
      for (const one of m.messages) fromMain(one);
      return;
    case "stream":
      if (pending.parent?.msg_id !== m.parent?.msg_id) flushStreams();
      pending.parent = m.parent;
      pending[m.name] += m.text;
      streamTimer ??= setTimeout(flushStreams, 20);
      return;
    case "send": {
      const msg = revive(m.msg);
      if (m.channel === "iopub") {
        flushStreams();
        sendIOPub(msg);
        return;
      }
      if (msg.header.msg_type === "execute_reply") inFlight.delete(String(msg.parent_header.msg_id));
      void queues[m.channel].send(encode(conn.key, msg));
      return;
    }
    case "close":
      flushStreams();
      closed = true;
      for (const s of [iopub, shell, control, stdin, hb]) s.close();
      port.close();
      return;
  }
}

port.on("message", fromMain);

// A kernel whose parent (the Jupyter server, a test) died must not live on as an orphan spinning a CPU.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.kill(process.pid, "SIGKILL");
}, 1000).unref();

const addr = (p: number) => `${conn.transport}://${conn.ip}:${p}`;
await Promise.all([
  iopub.bind(addr(conn.iopub_port)),
  shell.bind(addr(conn.shell_port)),
  control.bind(addr(conn.control_port)),
  stdin.bind(addr(conn.stdin_port)),
  hb.bind(addr(conn.hb_port)),
]);
void loop(shell, "shell");
void loop(control, "control");
void heartbeat();
void welcome();
publish(undefined, "status", { execution_state: "starting" });
post({ op: "bound" });

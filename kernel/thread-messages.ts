// Messages between the main thread (runs cells) and the socket worker (sockets.ts).
import type { ConnectionInfo } from "./connection.js";
import type { Header, Message } from "./wire.js";

export interface SocketWorkerData {
  conn: ConnectionInfo;
  session: string;
  /** Int32Array[0]: the sequence number of the execute request to interrupt. */
  interruptFlag: SharedArrayBuffer;
  kernelInfo: Record<string, unknown>;
}

/** Worker -> main. */
export type ToMain =
  | { op: "bound" }
  | { op: "info-sent" }
  | { op: "request"; channel: "shell" | "control"; msg: Message; seq?: number }
  | { op: "interrupt"; seq: number }
  | { op: "shutdown" };

/** Main -> worker. */
export type FromMain =
  | { op: "stream"; name: "stdout" | "stderr"; text: string; parent: Header | undefined }
  | { op: "send"; channel: "iopub" | "shell" | "control"; msg: Message }
  // Messages the main thread made in one turn (a cell's result, idle and reply), in order: one hop.
  | { op: "batch"; messages: FromMain[] }
  | { op: "close" };

/** Main -> type-check worker (checker-worker.ts); each request gets one CheckerReply with its id. */
export type ToChecker =
  | { op: "check"; id: number; code: string }
  | { op: "complete"; id: number; code: string; cursor: number }
  | { op: "inspect"; id: number; code: string; cursor: number };

/** Type-check worker -> main. */
export type CheckerReply = { id: number; value?: unknown; error?: string };

export interface CheckerWorkerData {
  /** Int32Array: [1 while a cell runs, ms since epochMs of the last start or end]. */
  activity: SharedArrayBuffer;
  epochMs: number;
}

// Executes a notebook's code cells on the arclight kernel of a private
// Jupyter server through @jupyterlab/services (KernelManager/SessionManager:
// ServiceManager's events socket 404s on jupyter-server 1.23).
import { execFileSync } from "node:child_process";
import { basename, dirname, resolve } from "node:path";
import { KernelManager, ServerConnection, SessionManager } from "@jupyterlab/services";
import WebSocket from "ws";
import { arclightVersion } from "../src/display/run-info.js";
import { DISPLAY_NAME, KERNEL_NAME } from "./kernelspec.js";
import { cellSource, OutputCollector, readNotebook, type Notebook, type Output } from "./notebook.js";
import { packageRoot } from "./package-root.js";
import { startJupyterServer, type RunningServer } from "./jupyter-server.js";

export interface RunOptions {
  /** Per-cell limit in seconds. */
  timeoutS?: number;
  /** Called as each code cell finishes without error, with its number: the execution count a traceback shows as `cell[n]`. */
  onCell?: (cellNumber: number, outputs: Output[], durationMs: number) => void;
}

export interface RunReport {
  arclightVersion: string;
  gitCommit: string | null;
  nodeVersion: string;
  seeds: Record<string, number | string>;
  date: string;
  durationMs: number;
}

export class CellFailedError extends Error {
  override readonly name = "CellFailedError";
  constructor(
    readonly cellNumber: number,
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: string[],
  ) {
    super(`cell[${cellNumber}] failed: ${ename}: ${evalue}`);
  }
}

export interface RunResult {
  notebook: Notebook;
  report: RunReport;
  /** Set when a cell failed; the notebook then holds outputs up to and including that cell. */
  failure?: CellFailedError;
}

const RUN_INFO_MIME = "application/vnd.arclight.run-info+json";
// Reads the seed registry through its global symbol, so it works whatever `agl` exports.
const RUN_INFO_CODE = `({ [Symbol.for("Jupyter.display")]() {
  const seeds = (globalThis as any)[Symbol.for("arclight.run-info.seeds")];
  return { "${RUN_INFO_MIME}": { seeds: seeds instanceof Map ? Object.fromEntries(seeds) : {}, node: process.version }, "text/plain": "run info" };
} })`;

export function gitCommit(dir: string): string | null {
  try {
    return (
      execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim() || null
    );
  } catch {
    return null;
  }
}

// Node 20 has fetch but no WebSocket global; @jupyterlab/services takes both through its settings.
export function settingsFor(server: RunningServer): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: server.baseUrl,
    wsUrl: server.baseUrl.replace(/^http/, "ws"),
    token: server.token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    fetch: globalThis.fetch,
    Request: globalThis.Request,
    Headers: globalThis.Headers,
  });
}

export async function runNotebook(path: string, opts: RunOptions = {}): Promise<RunResult> {
  const abs = resolve(path);
  const nb = readNotebook(abs);
  const timeoutMs = (opts.timeoutS ?? 600) * 1000;
  const started = Date.now();
  const server = await startJupyterServer({ rootDir: dirname(abs) });
  const stopAll: Array<() => Promise<void>> = [];
  const onSignal = () => {
    void Promise.allSettled(stopAll.map((f) => f()))
      .then(() => server.stop())
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const serverSettings = settingsFor(server);
    const kernelManager = new KernelManager({ serverSettings });
    const sessionManager = new SessionManager({ kernelManager, serverSettings });
    stopAll.push(async () => {
      sessionManager.dispose();
      kernelManager.dispose();
    });
    await kernelManager.ready;
    await sessionManager.ready;
    const session = await sessionManager.startNew({
      path: basename(abs),
      type: "notebook",
      name: basename(abs),
      kernel: { name: KERNEL_NAME },
    });
    const kernel = session.kernel;
    if (!kernel) throw new Error("the server started a session without a kernel");
    stopAll.unshift(async () => {
      await session.shutdown().catch(() => {});
      // A connection left open keeps reconnecting to the stopped server, and its timers keep the
      // calling process (a test file, CI) alive forever.
      kernel.dispose();
      session.dispose();
    });
    const info = await kernel.info;
    const displays = new Map<string, Output[]>();
    let failure: CellFailedError | undefined;
    // Cells are numbered as the kernel counts them (code cells only), so messages and tracebacks agree.
    let number = 0;
    for (const cell of nb.cells) {
      if (cell.cell_type !== "code") continue;
      number += 1;
      const cellStarted = Date.now();
      const code = cellSource(cell);
      const collector = new OutputCollector(displays);
      cell.outputs = collector.list;
      const future = kernel.requestExecute({ code, stop_on_error: true, store_history: true, allow_stdin: false });
      future.onIOPub = (msg) => {
        collector.handle(msg.header.msg_type, msg.content as Record<string, unknown>);
        cell.outputs = collector.list;
      };
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const reply = await Promise.race([future.done, timedOut]).finally(() => clearTimeout(timer));
      if (reply === "timeout") {
        await kernel.interrupt().catch(() => {});
        failure = new CellFailedError(number, "Timeout", `cell ran longer than ${timeoutMs / 1000} s`, []);
        future.dispose();
        break;
      }
      const content = reply.content as unknown as Record<string, unknown>;
      cell.execution_count = typeof content.execution_count === "number" ? content.execution_count : null;
      cell.outputs = collector.list;
      if (typeof content.execution_count === "number") number = content.execution_count;
      if (content.status !== "ok") {
        failure = new CellFailedError(
          number,
          String(content.ename ?? content.status),
          String(content.evalue ?? ""),
          (content.traceback as string[] | undefined) ?? [],
        );
        break;
      }
      opts.onCell?.(number, cell.outputs, Date.now() - cellStarted);
    }
    // Seeds the cells recorded, read from the kernel after the last cell.
    let seeds: Record<string, number | string> = {};
    let kernelNode = process.version;
    if (!failure) {
      const fut = kernel.requestExecute({ code: RUN_INFO_CODE, silent: false, store_history: false });
      fut.onIOPub = (msg) => {
        const data = (msg.content as { data?: Record<string, unknown> }).data;
        const ri = data?.[RUN_INFO_MIME] as { seeds?: Record<string, number | string>; node?: string } | undefined;
        if (ri) {
          seeds = ri.seeds ?? {};
          kernelNode = ri.node ?? kernelNode;
        }
      };
      await fut.done;
    }
    const report: RunReport = {
      arclightVersion: arclightVersion(),
      gitCommit: gitCommit(dirname(abs)) ?? gitCommit(packageRoot()),
      nodeVersion: kernelNode,
      seeds,
      date: new Date(started).toISOString(),
      durationMs: Date.now() - started,
    };
    nb.metadata.kernelspec = { name: KERNEL_NAME, display_name: DISPLAY_NAME, language: "typescript" };
    nb.metadata.language_info = (info.language_info as unknown as Record<string, unknown>) ?? { name: "typescript" };
    nb.metadata.arclight = report;
    return { notebook: nb, report, failure };
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    for (const f of stopAll) await f().catch(() => {});
    await server.stop();
  }
}

// A private Jupyter server for headless runs: random port on 127.0.0.1, a
// token, no browser, and JUPYTER_PATH pointing at a temporary kernelspec dir
// so it works without `arclight kernel install`.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installKernelspec } from "./kernelspec.js";

export const JUPYTER = "/usr/bin/jupyter";
export const SYSTEM_PYTHON = "/usr/bin/python3";
const SETPRIV = "/usr/bin/setpriv";

const running = new Set<ChildProcess>();
// A normal exit or Ctrl-C of the process that started servers takes them down as well.
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export class JupyterMissingError extends Error {
  override readonly name = "JupyterMissingError";
  constructor() {
    super(
      `${JUPYTER} is missing: run \`bash scripts/ensure-jupyter.sh\` (installs Debian's jupyter-server, nbclient, nbconvert, jupyter-kernel-test)`,
    );
  }
}

export function assertJupyterInstalled(): void {
  if (!existsSync(JUPYTER) || !existsSync(SYSTEM_PYTHON)) throw new JupyterMissingError();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningServer {
  baseUrl: string;
  token: string;
  /** Holds the temporary kernelspec (share/jupyter/kernels/arclight) and runtime files. */
  tempDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startJupyterServer(opts: { rootDir: string; startTimeoutMs?: number }): Promise<RunningServer> {
  assertJupyterInstalled();
  const tempDir = mkdtempSync(join(tmpdir(), "arclight-run-"));
  installKernelspec({ prefix: tempDir });
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const env = {
    ...process.env,
    JUPYTER_PATH: join(tempDir, "share", "jupyter"),
    JUPYTER_RUNTIME_DIR: join(tempDir, "runtime"),
    JUPYTER_CONFIG_DIR: join(tempDir, "config"),
    JUPYTER_DATA_DIR: join(tempDir, "data"),
  };
  // setpriv --pdeathsig: the server dies with this process even when that one is killed outright
  // (a CI timeout); its kernels notice their parent is gone and exit too (see kernel/sockets.ts).
  const [cmd, pre] = existsSync(SETPRIV) ? [SETPRIV, ["--pdeathsig", "SIGKILL", "--", SYSTEM_PYTHON]] : [SYSTEM_PYTHON, []];
  const child = spawn(
    cmd,
    [
      ...pre,
      "-m",
      "jupyter_server",
      "--no-browser",
      `--ServerApp.ip=127.0.0.1`,
      `--ServerApp.port=${port}`,
      "--ServerApp.port_retries=0",
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${opts.rootDir}`,
      "--ServerApp.open_browser=False",
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ],
    { env, stdio: ["ignore", "ignore", "pipe"], detached: false },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-20000);
  });
  let exited = false;
  running.add(child);
  child.once("exit", () => {
    exited = true;
    running.delete(child);
  });
  const baseUrl = `http://127.0.0.1:${port}/`;
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill("SIGTERM");
      const deadline = Date.now() + 5000;
      while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!exited) child.kill("SIGKILL");
    }
    rmSync(tempDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`jupyter server exited during start:\n${log}`);
    }
    try {
      const res = await fetch(`${baseUrl}api/status?token=${token}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`jupyter server did not answer within ${opts.startTimeoutMs ?? 30000} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { baseUrl, token, tempDir, process: child, stop };
}

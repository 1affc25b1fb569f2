// A direct Jupyter client for kernel tests: starts the built kernel with a
// connection file and talks to its sockets with zeromq (no Jupyter server, so
// a test starts in about a second). The kernel runs in its own process group
// and is killed with the test process, whatever way that one ends.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { kernelEntry } from "../kernel/package-root.js";
import { decode, encode, PROTOCOL_VERSION, type Message } from "../kernel/wire.js";

export interface IOPub {
  type: string;
  content: Record<string, unknown>;
}

export interface Executed {
  reply: Record<string, unknown>;
  /** Every iopub message of the request but status. */
  iopub: IOPub[];
}

const live = new Set<ChildProcess>();
function killAll(): void {
  for (const p of live) killGroup(p);
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

function killGroup(p: ChildProcess): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, "SIGKILL");
  } catch {
    p.kill("SIGKILL");
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class KernelClient {
  private readonly session = randomUUID();
  private readonly shell = new zmq.Dealer({ routingId: randomUUID() });
  private readonly control = new zmq.Dealer({ routingId: randomUUID() });
  private readonly iopub = new zmq.Subscriber();
  private readonly waiting = new Map<
    string,
    { reply?: Record<string, unknown>; idle: boolean; iopub: IOPub[]; onIOPub?: (m: IOPub) => void; done: (e: Executed) => void }
  >();
  private readonly replies = new Map<string, (m: Message) => void>();
  stderr = "";
  private readonly iopubSeen = new Set<string>();

  private constructor(
    readonly proc: ChildProcess,
    private readonly key: string,
  ) {}

  /** Starts a kernel in `cwd` (a notebook folder). */
  static async start(opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<KernelClient> {
    const [shell, iopub, stdin, control, hb] = await freePorts(5);
    const key = randomBytes(16).toString("hex");
    const dir = mkdtempSync(join(tmpdir(), "arclight-kc-"));
    const file = join(dir, "kernel.json");
    writeFileSync(
      file,
      JSON.stringify({
        transport: "tcp",
        ip: "127.0.0.1",
        shell_port: shell,
        iopub_port: iopub,
        stdin_port: stdin,
        control_port: control,
        hb_port: hb,
        key,
        signature_scheme: "hmac-sha256",
      }),
    );
    const proc = spawn(process.execPath, [kernelEntry(), "-f", file], {
      cwd: opts.cwd ?? dir,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    const kc = new KernelClient(proc, key);
    proc.stderr!.on("data", (d: Buffer) => {
      kc.stderr = (kc.stderr + d.toString()).slice(-20000);
    });
    kc.shell.connect(`tcp://127.0.0.1:${shell}`);
    kc.control.connect(`tcp://127.0.0.1:${control}`);
    kc.iopub.connect(`tcp://127.0.0.1:${iopub}`);
    kc.iopub.subscribe();
    void kc.readLoop(kc.shell);
    void kc.readLoop(kc.control);
    void kc.readIOPub();
    // A reply proves the sockets are up; iopub's subscription takes a moment more (zeromq's slow joiner):
    // ask again until a request's status comes back on iopub, as jupyter_client does.
    try {
      await kc.waitReady();
    } catch (e) {
      killGroup(proc);
      kc.closeSockets();
      throw e;
    }
    return kc;
  }

  private closeSockets(): void {
    for (const s of [this.shell, this.control, this.iopub]) s.close();
  }

  private async waitReady(): Promise<void> {
    const proc = this.proc;
    const key = this.key;
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code, sig) => reject(new Error(`kernel exited (${code ?? sig}) while starting\n${this.stderr}`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + 60_000;
    for (;;) {
      const m = this.msg("kernel_info_request", {});
      const replied = new Promise<void>((resolve) => this.replies.set(m.header.msg_id, () => resolve()));
      await this.shell.send(encode(key, m));
      await Promise.race([replied, exited, new Promise((r) => setTimeout(r, 2000))]);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
      if (this.iopubSeen.has(m.header.msg_id)) break;
      if (Date.now() > deadline) {
        killGroup(proc);
        throw new Error(`kernel did not come up within 60 s\n${this.stderr}`);
      }
    }
    // kernel_info comes before the compiler has loaded; wait for that too, so each test's own limits
    // measure its cells (the first load takes tens of seconds on a loaded 2-core machine).
    await Promise.race([this.execute("0", { timeoutMs: 180_000 }), exited]);
  }

  private msg(type: string, content: Record<string, unknown>): Message {
    return {
      identities: [],
      header: {
        msg_id: randomUUID(),
        session: this.session,
        username: "test",
        date: new Date().toISOString(),
        msg_type: type,
        version: PROTOCOL_VERSION,
      },
      parent_header: {},
      metadata: {},
      content,
      buffers: [],
    };
  }

  private async readLoop(sock: zmq.Dealer): Promise<void> {
    try {
      for await (const frames of sock) {
        const m = decode(this.key, frames);
        const id = m.parent_header.msg_id ?? "";
        const w = this.waiting.get(id);
        if (w && m.header.msg_type === "execute_reply") {
          w.reply = m.content;
          this.settle(id);
        }
        this.replies.get(id)?.(m);
      }
    } catch {
      // socket closed
    }
  }

  private async readIOPub(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        const m = decode(this.key, frames);
        const id = m.parent_header.msg_id ?? "";
        this.iopubSeen.add(id);
        const w = this.waiting.get(id);
        if (!w) continue;
        if (m.header.msg_type === "status") {
          if (m.content.execution_state === "idle") {
            w.idle = true;
            this.settle(id);
          }
          continue;
        }
        const entry = { type: m.header.msg_type, content: m.content };
        w.iopub.push(entry);
        w.onIOPub?.(entry);
      }
    } catch {
      // socket closed
    }
  }

  private settle(id: string): void {
    const w = this.waiting.get(id);
    if (!w?.reply || !w.idle) return;
    this.waiting.delete(id);
    w.done({ reply: w.reply, iopub: w.iopub });
  }

  /** A shell or control request; resolves with the reply's content. */
  async request(
    type: string,
    content: Record<string, unknown>,
    channel: "shell" | "control" = "shell",
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    const m = this.msg(type, content);
    const sock = channel === "shell" ? this.shell : this.control;
    const reply = new Promise<Message>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${type}: no reply within ${timeoutMs} ms\n${this.stderr}`)), timeoutMs);
      this.replies.set(m.header.msg_id, (r) => {
        clearTimeout(t);
        this.replies.delete(m.header.msg_id);
        resolve(r);
      });
    });
    await sock.send(encode(this.key, m));
    return (await reply).content;
  }

  /** Runs code; resolves once both the execute_reply and the idle status arrived. */
  async execute(code: string, opts: { onIOPub?: (m: IOPub) => void; timeoutMs?: number; stopOnError?: boolean } = {}): Promise<Executed> {
    const m = this.msg("execute_request", {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: opts.stopOnError ?? false,
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const done = new Promise<Executed>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(m.header.msg_id);
        reject(new Error(`execute ${JSON.stringify(code.slice(0, 60))}: not done within ${timeoutMs} ms\n${this.stderr}`));
      }, timeoutMs);
      this.waiting.set(m.header.msg_id, {
        idle: false,
        iopub: [],
        onIOPub: opts.onIOPub,
        done: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
    await this.shell.send(encode(this.key, m));
    return done;
  }

  /** The text/plain of a cell's execute_result (throws when the cell failed or showed none). */
  async value(code: string): Promise<string> {
    const r = await this.execute(code);
    if (r.reply.status !== "ok")
      throw new Error(
        `${code}: ${String(r.reply.ename)}: ${String(r.reply.evalue)}\n${(r.reply.traceback as string[] | undefined)?.join("\n") ?? ""}`,
      );
    const res = r.iopub.find((x) => x.type === "execute_result");
    if (!res) throw new Error(`${code}: no execute_result`);
    return String((res.content.data as Record<string, unknown>)["text/plain"]);
  }

  /** Interrupts the way Jupyter does for interrupt_mode "signal". */
  interrupt(): void {
    this.proc.kill("SIGINT");
  }

  async close(): Promise<void> {
    await this.request("shutdown_request", { restart: false }, "control", 5000).catch(() => {});
    const exited =
      this.proc.exitCode !== null ||
      (await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), 3000);
        this.proc.once("exit", () => {
          clearTimeout(t);
          r(true);
        });
      }));
    if (!exited) killGroup(this.proc);
    this.closeSockets();
  }
}

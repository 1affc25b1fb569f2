import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { KernelManager, type Kernel, type KernelMessage } from "@jupyterlab/services";
import { settingsFor } from "../kernel/notebook-runner.js";
import { startJupyterServer, type RunningServer } from "../kernel/jupyter-server.js";
import { requireKernelPrereqs } from "./kernel-helpers.js";

let server: RunningServer;
let manager: KernelManager;
let kernel: Kernel.IKernelConnection;

interface Ran {
  reply: Record<string, unknown>;
  iopub: Array<{ type: string; content: Record<string, unknown> }>;
}

async function run(code: string, onIOPub?: (type: string, content: Record<string, unknown>) => void): Promise<Ran> {
  const iopub: Ran["iopub"] = [];
  const future = kernel.requestExecute({ code, stop_on_error: false });
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    const entry = { type: msg.header.msg_type, content: msg.content as Record<string, unknown> };
    iopub.push(entry);
    onIOPub?.(entry.type, entry.content);
  };
  const reply = await future.done;
  return { reply: reply.content as unknown as Record<string, unknown>, iopub: iopub.filter((m) => m.type !== "status") };
}

before(
  async () => {
    requireKernelPrereqs();
    // A notebook folder outside the project: types and `arclight` must still resolve.
    server = await startJupyterServer({ rootDir: mkdtempSync(`${tmpdir()}/arclight-nb-`) });
    manager = new KernelManager({ serverSettings: settingsFor(server) });
    await manager.ready;
    kernel = await manager.startNew({ name: "arclight" });
    await kernel.info;
  },
  { timeout: 240_000 },
);

after(
  async () => {
    await kernel?.shutdown().catch(() => {});
    // Open connections keep reconnecting (and this file running) after the server is gone.
    kernel?.dispose();
    manager?.dispose();
    await server?.stop();
  },
  { timeout: 60_000 },
);

test("a cell's prints stream in order before its execute_result, with execute_input first", { timeout: 120_000 }, async () => {
  const r = await run('console.log("a");\nawait new Promise((r) => setTimeout(r, 100));\nconsole.log("b");\n40 + 2');
  assert.equal(r.reply.status, "ok");
  assert.equal(r.iopub[0]!.type, "execute_input");
  assert.equal(r.iopub[0]!.content.execution_count, r.reply.execution_count);
  const streamed = r.iopub
    .filter((m) => m.type === "stream")
    .map((m) => m.content.text)
    .join("");
  assert.equal(streamed, "a\nb\n");
  const last = r.iopub[r.iopub.length - 1]!;
  assert.equal(last.type, "execute_result");
  assert.equal((last.content.data as Record<string, string>)["text/plain"], "42");
});

test("output appears while a cell is still running", { timeout: 60_000 }, async () => {
  let firstAt = 0;
  const started = Date.now();
  await run("for (let i = 0; i < 3; i++) { console.log(i); await new Promise((r) => setTimeout(r, 300)); }", (type) => {
    if (type === "stream" && firstAt === 0) firstAt = Date.now();
  });
  const done = Date.now();
  // The cell runs 900 ms after its first print; that print must not wait for the end (compile time,
  // long on a loaded machine, is not part of what this measures).
  assert.ok(
    firstAt > 0 && done - firstAt > 450,
    `first print ${firstAt - started} ms after the request, the cell ended at ${done - started} ms`,
  );
});

test("a displayable shows as display_data and updates in place by display id", { timeout: 120_000 }, async () => {
  const r =
    await run(`const card = (n: number) => ({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<i>" + n + "</i>", "application/json": { n } }; } });
agl.display(card(1), { displayId: "d1" });
agl.updateDisplay("d1", card(2));`);
  assert.equal(r.reply.status, "ok");
  const shown = r.iopub.find((m) => m.type === "display_data")!;
  assert.deepEqual((shown.content.data as Record<string, unknown>)["application/json"], { n: 1 });
  assert.equal((shown.content.transient as Record<string, string>).display_id, "d1");
  const upd = r.iopub.find((m) => m.type === "update_display_data")!;
  assert.equal((upd.content.data as Record<string, string>)["text/html"], "<i>2</i>");
});

test("ESM-only packages and arclight import in a cell; ES2023 methods type-check", { timeout: 120_000 }, async () => {
  const r = await run(`import * as vl from "vega-lite";
import * as a from "arclight";
const spec = vl.compile({ mark: "point", data: { values: [{ x: 1 }] }, encoding: { x: { field: "x", type: "quantitative" } } }).spec;
[typeof spec.marks, a.display === agl.display, [3, 1, 2].toSorted().join(",")].join(" ")`);
  assert.equal(r.reply.status, "ok", JSON.stringify(r.reply));
  const res = r.iopub.find((m) => m.type === "execute_result")!;
  assert.equal((res.content.data as Record<string, string>)["text/plain"], "'object true 1,2,3'");
});

test("an error reports ename, evalue and the TypeScript line", { timeout: 120_000 }, async () => {
  const r = await run('type T = { a: number };\n\nconst t: T = { a: 1 };\nif (t.a === 1) {\n  throw new TypeError("bad " + t.a);\n}');
  assert.equal(r.reply.status, "error");
  assert.equal(r.reply.ename, "TypeError");
  assert.equal(r.reply.evalue, "bad 1");
  const err = r.iopub.find((m) => m.type === "error")!;
  assert.match((err.content.traceback as string[]).join("\n"), /cell\[\d+\]:5\b/);
});

test("interrupt stops an async loop and a sync busy loop; the kernel stays usable", { timeout: 120_000 }, async () => {
  await run("let ticks = 0;");
  const asyncRun = run("for (;;) { await new Promise((r) => setTimeout(r, 20)); ticks++; console.log(ticks); }");
  await new Promise((r) => setTimeout(r, 500));
  await kernel.interrupt();
  const a = await asyncRun;
  assert.equal(a.reply.status, "error");
  assert.equal(a.reply.ename, "KeyboardInterrupt");
  const after1 = await run("ticks");
  await new Promise((r) => setTimeout(r, 200));
  const after2 = await run("ticks");
  // The loop really stopped: the counter no longer moves.
  assert.equal(
    (after1.iopub.at(-1)!.content.data as Record<string, string>)["text/plain"],
    (after2.iopub.at(-1)!.content.data as Record<string, string>)["text/plain"],
  );

  const syncRun = run("let spin = 0;\nwhile (true) { spin++; }");
  await new Promise((r) => setTimeout(r, 500));
  await kernel.interrupt();
  const s = await syncRun;
  assert.equal(s.reply.status, "error");
  assert.equal(s.reply.ename, "KeyboardInterrupt");
  const next = await run("1 + 1");
  assert.equal(next.reply.status, "ok");
});

test("restart gives a fresh kernel", { timeout: 120_000 }, async () => {
  await run("const survivor = 1;");
  await kernel.restart();
  await kernel.info;
  const r = await run("survivor");
  assert.equal(r.reply.status, "error");
  assert.equal(r.reply.execution_count, 1);
  // Cells run transpile-only: an unknown name is JavaScript's ReferenceError (its type check reports TS2304 beside it).
  assert.equal(r.reply.ename, "ReferenceError");
  assert.match(String(r.reply.evalue), /survivor is not defined/);
  const ok = await run("typeof agl.display");
  assert.equal((ok.iopub.find((m) => m.type === "execute_result")!.content.data as Record<string, string>)["text/plain"], "'function'");
});

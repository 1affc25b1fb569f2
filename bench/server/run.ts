// The store server's cost, against in-process baselines measured in the same run:
//  1. span ingest: in-process addSpans vs the JSON endpoint (connectStore) vs
//     OTLP/HTTP protobuf, server in a separate process, 1000-span batches;
//  2. rollouts/s of a trivial agent (message + reward spans) with N = 1, 2, 4
//     runner processes over HTTP (8 runners each: a remote rollout is bound by
//     round trips, so concurrency hides them) vs 8N in-process runners.
// Run: npx tsx bench/server/run.ts [spans=100000] [rollouts=400] (rollouts=0: ingest only).
// SERVER_NODE_OPTIONS adds node flags to the server process (e.g. --cpu-prof).
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { readFileSync } from "node:fs";
import { setMaxListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { openStore, connectStore, type LightningStore } from "../../src/store/index.js";
import { startRunnerPool } from "../../src/trainer/runner-processes.js";
import { Runner } from "../../src/runner/runner.js";
import { otlpBody } from "./otlp-body.js";
import agent from "../../test/fixtures/runner/agent.js";

const SPANS = Number(process.argv[2] ?? 100_000);
const PER_PROCESS = 8;
const ROLLOUTS = Number(process.argv[3] ?? 400);
const BATCH = 1000;
const IN_FLIGHT = 4;
const cli = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function span(rolloutId: string, attemptId: string, i: number) {
  return {
    rolloutId,
    attemptId,
    traceId: "ab".repeat(16),
    spanId: i.toString(16).padStart(16, "0"),
    parentId: null,
    name: "chat gpt-x",
    status: { statusCode: "OK" as const },
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "gpt-x",
      "gen_ai.usage.input_tokens": 120,
      "gen_ai.usage.output_tokens": 40,
      "gen_ai.request.temperature": 0.7,
      step: i,
    },
    events: [],
    links: [],
    startTime: 1_700_000_000_000 + i,
    endTime: 1_700_000_000_050 + i,
    resource: { attributes: { "service.name": "bench" }, schemaUrl: "" },
  };
}

/** Runs `batches` calls of `send` with IN_FLIGHT concurrent; returns spans/s. */
async function pump(batches: number, send: (b: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batches) await send(next++);
    }),
  );
  return (batches * BATCH) / ((performance.now() - t0) / 1000);
}

async function serveInChild(): Promise<{ url: string; child: ChildProcess }> {
  const flags = (process.env.SERVER_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...flags, "--import", "tsx", cli, "store", "serve", "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (c) => reject(new Error(`store serve exited ${c}`)));
  });
  return { url, child };
}

function postProto(url: URL, body: Buffer, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/x-protobuf", "content-length": body.length } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`OTLP ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function ingest() {
  const batches = Math.ceil(SPANS / BATCH);
  // in-process baseline
  const local = await openStore();
  const lr = await local.startRollout({ input: 0 });
  const c0 = cpuSeconds(process.pid);
  const localRate = await pump(batches, (b) =>
    local.addSpans(Array.from({ length: BATCH }, (_, i) => span(lr.rolloutId, lr.attempt.attemptId, b * BATCH + i))),
  );
  // Includes building the spans, which the HTTP cases pay in the client: a generous baseline.
  const localCpuUs = ((cpuSeconds(process.pid) - c0) * 1e6) / (batches * BATCH);
  await local.close();

  const { url, child } = await serveInChild();
  try {
    const remote = await connectStore(url);
    const rr = await remote.startRollout({ input: 0 });
    const s0 = cpuSeconds(child.pid!);
    const k0 = cpuSeconds(process.pid);
    const jsonRate = await pump(batches, (b) =>
      remote.addSpans(Array.from({ length: BATCH }, (_, i) => span(rr.rolloutId, rr.attempt.attemptId, b * BATCH + i))),
    );
    const jsonCpuUs = ((cpuSeconds(child.pid!) - s0) * 1e6) / (batches * BATCH);
    // The JSON client builds, checks and encodes its spans inside the clock; OTLP bodies below are encoded before it.
    const jsonClientCpuUs = ((cpuSeconds(process.pid) - k0) * 1e6) / (batches * BATCH);

    const pr = await remote.startRollout({ input: 0 });
    // Bodies are encoded before the clock starts: the exporter's cost is the agent's, not the server's.
    const bodies = Array.from({ length: batches }, (_, b) => otlpBody(pr.rolloutId, pr.attempt.attemptId, b * BATCH, BATCH));
    const agentPool = new http.Agent({ keepAlive: true });
    const s1 = cpuSeconds(child.pid!);
    const otlpRate = await pump(batches, (b) => postProto(new URL(`${url}/v1/traces`), bodies[b], agentPool));
    const otlpCpuUs = ((cpuSeconds(child.pid!) - s1) * 1e6) / (batches * BATCH);
    agentPool.destroy();
    const stats = await remote.statistics();
    if (stats.spans !== 2 * batches * BATCH) throw new Error(`server holds ${stats.spans} spans, expected ${2 * batches * BATCH}`);
    await remote.close();
    return { localRate, jsonRate, otlpRate, localCpuUs, jsonCpuUs, jsonClientCpuUs, otlpCpuUs, bytesPerBatch: bodies[0].length };
  } finally {
    child.kill("SIGTERM");
  }
}

/** CPU seconds (user + system) a process has used, from /proc: children are measured too. */
function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

interface Rate {
  perSecond: number;
  /** CPU milliseconds per rollout over every process involved: a number the machine's load does not change much. */
  cpuMs: number;
}

async function rolloutsInProcess(n: number): Promise<Rate> {
  const store = await openStore();
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const runners = Array.from({ length: n * PER_PROCESS }, (_, i) => new Runner({ store, agent, workerId: `w${i}`, pollMs: 1 }));
  const running = runners.map((r) => r.iterate({ signal: stop.signal }));
  const rate = await timeRollouts(store, [process.pid]);
  stop.abort();
  await Promise.all(running);
  await store.close();
  return rate;
}

async function rolloutsInProcesses(n: number): Promise<Rate> {
  const store = await openStore();
  const pool = await startRunnerPool(store, {
    processes: n,
    runnersPerProcess: PER_PROCESS,
    module: fileURLToPath(new URL("../../test/fixtures/runner/agent.ts", import.meta.url)),
  });
  try {
    // One warm-up round so process start-up and JIT are not counted.
    await store.waitForRollouts(
      (await store.enqueueManyRollouts(Array.from({ length: 4 * n }, () => ({ input: { a: 1, b: 2 } })))).map((r) => r.rolloutId),
    );
    return await timeRollouts(store, [process.pid, ...pool.children.map((c) => c.pid!)]);
  } finally {
    await pool.stop();
    await store.close();
  }
}

async function timeRollouts(store: LightningStore, pids: number[]): Promise<Rate> {
  const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const t0 = performance.now();
  const rs = await store.enqueueManyRollouts(Array.from({ length: ROLLOUTS }, (_, i) => ({ input: { a: i % 4, b: 2 } })));
  const done = await store.waitForRollouts(rs.map((r) => r.rolloutId));
  if (done.some((r) => r.status !== "succeeded")) throw new Error("a rollout failed");
  const perSecond = ROLLOUTS / ((performance.now() - t0) / 1000);
  const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0;
  return { perSecond, cpuMs: (cpu * 1000) / ROLLOUTS };
}

const f = (x: number) => x.toFixed(0).padStart(8);
const ing = await ingest();
console.log(`span ingest, ${SPANS} spans in ${BATCH}-span batches, ${IN_FLIGHT} in flight, server in another process`);
// CPU per span on the ingesting side (the server process for HTTP): 1e6 / us = spans/s one free core sustains.
const cap = (us: number) => `${us.toFixed(1)} CPU us/span (${f(1e6 / us)} spans/s per core)`;
console.log(`  in-process addSpans       ${f(ing.localRate)} spans/s   1.00x   ${cap(ing.localCpuUs)}`);
console.log(
  `  HTTP JSON /spans/add-many ${f(ing.jsonRate)} spans/s   ${(ing.jsonRate / ing.localRate).toFixed(2)}x   server ${cap(ing.jsonCpuUs)}   client ${ing.jsonClientCpuUs.toFixed(1)} CPU us/span`,
);
console.log(
  `  OTLP/HTTP protobuf        ${f(ing.otlpRate)} spans/s   ${(ing.otlpRate / ing.localRate).toFixed(2)}x   server ${cap(ing.otlpCpuUs)}   (${(ing.bytesPerBatch / 1024).toFixed(0)} KiB per batch)`,
);
if (ROLLOUTS > 0)
  console.log(`rollouts/s, trivial agent (message + reward spans), ${ROLLOUTS} rollouts, ${PER_PROCESS} runners per process`);
for (const n of ROLLOUTS > 0 ? [1, 2, 4] : []) {
  const inproc = await rolloutsInProcess(n);
  const procs = await rolloutsInProcesses(n);
  console.log(
    `  N=${n}: in-process (${n * PER_PROCESS} runners) ${f(inproc.perSecond)}/s ${inproc.cpuMs.toFixed(2)} CPU ms each   ` +
      `${n} runner process(es) over HTTP ${f(procs.perSecond)}/s ${procs.cpuMs.toFixed(2)} CPU ms each   ${(procs.perSecond / inproc.perSecond).toFixed(2)}x rate, ${(procs.cpuMs / inproc.cpuMs).toFixed(1)}x CPU`,
  );
}

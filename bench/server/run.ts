// The store server's cost, against in-process baselines measured in the same run:
//  1. span ingest: in-process addSpans vs the JSON endpoint (connectStore) vs
//     OTLP/HTTP protobuf, server in a separate process, 1000-span batches;
//  2. rollouts/s of a trivial agent (message + reward spans) with N = 1, 2, 4
//     runner processes over HTTP vs N in-process runners on one store.
// Run: npx tsx bench/server/run.ts [spans=200000] [rollouts=400]
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { openStore, connectStore, type LightningStore } from "../../src/store/index.js";
import { startRunnerPool } from "../../src/trainer/runner-processes.js";
import { Runner } from "../../src/runner/runner.js";
import { ExportTraceServiceRequest } from "../../src/server/otlp-proto.js";
import agent from "../../test/fixtures/runner/agent.js";

const SPANS = Number(process.argv[2] ?? 200_000);
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
    attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40, "gen_ai.request.temperature": 0.7, step: i },
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
  const child = spawn(process.execPath, ["--import", "tsx", cli, "store", "serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
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
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/x-protobuf", "content-length": body.length } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`OTLP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function ingest() {
  const batches = Math.ceil(SPANS / BATCH);
  // in-process baseline
  const local = await openStore();
  const lr = await local.startRollout({ input: 0 });
  const localRate = await pump(batches, (b) => local.addSpans(Array.from({ length: BATCH }, (_, i) => span(lr.rolloutId, lr.attempt.attemptId, b * BATCH + i))));
  await local.close();

  const { url, child } = await serveInChild();
  try {
    const remote = await connectStore(url);
    const rr = await remote.startRollout({ input: 0 });
    const jsonRate = await pump(batches, (b) => remote.addSpans(Array.from({ length: BATCH }, (_, i) => span(rr.rolloutId, rr.attempt.attemptId, b * BATCH + i))));

    const pr = await remote.startRollout({ input: 0 });
    const kv = (key: string, value: object) => ({ key, value });
    const body = (b: number) =>
      Buffer.from(
        ExportTraceServiceRequest.encode(
          ExportTraceServiceRequest.fromObject({
            resourceSpans: [
              {
                resource: { attributes: [kv("agentlightning.rollout_id", { stringValue: pr.rolloutId }), kv("agentlightning.attempt_id", { stringValue: pr.attempt.attemptId }), kv("service.name", { stringValue: "bench" })] },
                scopeSpans: [
                  {
                    spans: Array.from({ length: BATCH }, (_, i) => ({
                      traceId: Buffer.alloc(16, 0xab),
                      spanId: Buffer.from((b * BATCH + i).toString(16).padStart(16, "0"), "hex"),
                      name: "chat gpt-x",
                      kind: 3,
                      startTimeUnixNano: String(BigInt(1_700_000_000_000 + i) * 1_000_000n),
                      endTimeUnixNano: String(BigInt(1_700_000_000_050 + i) * 1_000_000n),
                      attributes: [kv("gen_ai.operation.name", { stringValue: "chat" }), kv("gen_ai.request.model", { stringValue: "gpt-x" }), kv("gen_ai.usage.input_tokens", { intValue: 120 }), kv("gen_ai.usage.output_tokens", { intValue: 40 }), kv("gen_ai.request.temperature", { doubleValue: 0.7 }), kv("step", { intValue: i })],
                      status: { code: 1 },
                    })),
                  },
                ],
              },
            ],
          }),
        ).finish(),
      );
    // Bodies are encoded before the clock starts: the exporter's cost is the agent's, not the server's.
    const bodies = Array.from({ length: batches }, (_, b) => body(b));
    const agentPool = new http.Agent({ keepAlive: true });
    const otlpRate = await pump(batches, (b) => postProto(new URL(`${url}/v1/traces`), bodies[b], agentPool));
    agentPool.destroy();
    const stats = await remote.statistics();
    if (stats.spans !== 2 * batches * BATCH) throw new Error(`server holds ${stats.spans} spans, expected ${2 * batches * BATCH}`);
    await remote.close();
    return { localRate, jsonRate, otlpRate, bytesPerBatch: bodies[0].length };
  } finally {
    child.kill("SIGTERM");
  }
}

async function rolloutsInProcess(n: number): Promise<number> {
  const store = await openStore();
  const stop = new AbortController();
  const runners = Array.from({ length: n }, (_, i) => new Runner({ store, agent, workerId: `w${i}`, pollMs: 1 }));
  const running = runners.map((r) => r.iterate({ signal: stop.signal }));
  const rate = await timeRollouts(store);
  stop.abort();
  await Promise.all(running);
  await store.close();
  return rate;
}

async function rolloutsInProcesses(n: number): Promise<number> {
  const store = await openStore();
  const pool = await startRunnerPool(store, { processes: n, module: fileURLToPath(new URL("../../test/fixtures/runner/agent.ts", import.meta.url)) });
  try {
    // One warm-up round so process start-up and JIT are not counted.
    await store.waitForRollouts((await store.enqueueManyRollouts(Array.from({ length: 4 * n }, () => ({ input: { a: 1, b: 2 } })))).map((r) => r.rolloutId));
    return await timeRollouts(store);
  } finally {
    await pool.stop();
    await store.close();
  }
}

async function timeRollouts(store: LightningStore): Promise<number> {
  const t0 = performance.now();
  const rs = await store.enqueueManyRollouts(Array.from({ length: ROLLOUTS }, (_, i) => ({ input: { a: i % 4, b: 2 } })));
  const done = await store.waitForRollouts(rs.map((r) => r.rolloutId));
  if (done.some((r) => r.status !== "succeeded")) throw new Error("a rollout failed");
  return ROLLOUTS / ((performance.now() - t0) / 1000);
}

const f = (x: number) => x.toFixed(0).padStart(8);
const ing = await ingest();
console.log(`span ingest, ${SPANS} spans in ${BATCH}-span batches, ${IN_FLIGHT} in flight, server in another process`);
console.log(`  in-process addSpans     ${f(ing.localRate)} spans/s   1.00x`);
console.log(`  HTTP JSON /spans/add-many ${f(ing.jsonRate)} spans/s   ${(ing.jsonRate / ing.localRate).toFixed(2)}x`);
console.log(`  OTLP/HTTP protobuf      ${f(ing.otlpRate)} spans/s   ${(ing.otlpRate / ing.localRate).toFixed(2)}x   (${(ing.bytesPerBatch / 1024).toFixed(0)} KiB per batch)`);
console.log(`rollouts/s, trivial agent (message + reward spans), ${ROLLOUTS} rollouts`);
for (const n of [1, 2, 4]) {
  const inproc = await rolloutsInProcess(n);
  const procs = await rolloutsInProcesses(n);
  console.log(`  N=${n}: in-process ${f(inproc)}   runner processes over HTTP ${f(procs)}   ${(procs / inproc).toFixed(2)}x`);
}

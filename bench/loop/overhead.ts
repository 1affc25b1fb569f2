// Where a rollout of the in-process loop spends its time outside sampling:
// the demo configuration's rollouts (addition agent, plain `openai` call to
// the LLM proxy, native policy, 4 in-process runners, memory store) split into
// parts, each measured in this run as wall and CPU (process.cpuUsage: every
// thread, the native sampler's included) per rollout:
//   sampling     policy.generate of one prompt per call, 4 in flight (the floor);
//   http         the same calls through `openai` -> proxy -> generate over HTTP, no store or runner;
//   local        the same through the proxy's in-process route (src/tracer/local-routes.ts);
//   sdk          the same `openai` calls answered by a fetch that returns a canned answer (the SDK's own
//                cost with its span, no proxy or sampling);
//   agent        the demo agent's own client code without Arclight: `new OpenAI()` and one call on the
//                canned fetch through the SDK's original, uninstrumented `create` (any trainer pays it);
//   store+runner rollouts of an agent that only emits its reward (queue, runner, spans);
//   full-http    the demo agent's rollouts with its LLM calls over HTTP (the baseline);
//   full         the demo agent's rollouts as the loop runs them (what bench/loop/run.ts times).
// Outside sampling = full - sampling; Arclight's own = full - sampling - agent.
// Run: [ROUNDS=3] npx tsx bench/loop/overhead.ts [rollouts]
import OpenAI from "openai";
import { openStore } from "../../src/store/index.js";
import { Policy } from "../../src/native/index.js";
import { ARITHMETIC_POLICY, ArithmeticTokenizer, additionAgent, additionTasks } from "../../src/examples/index.js";
import { servePolicy } from "../../src/algorithm/policy-loop.js";
import { Runner } from "../../src/runner/runner.js";
import { rollout } from "../../src/runner/agent.js";
import { emitReward, instrumentOpenAI } from "../../src/tracer/index.js";
import { useLocalRoutes } from "../../src/tracer/local-routes.js";
import type { Agent } from "../../src/runner/agent.js";
import type { LightningStore } from "../../src/store/lightning-store.js";

const N = Number(process.argv[2] ?? 2000);
// Each part is measured ROUNDS times, interleaved, and its least CPU kept: this machine's load comes and goes.
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 3));
const RUNNERS = 4;
const tasks = additionTasks(4);

interface Cost {
  wallMs: number;
  cpuMs: number;
}

async function timed(n: number, fn: () => Promise<void>): Promise<Cost> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallMs: wall / n, cpuMs: (c.user + c.system) / 1000 / n };
}

/** `n` calls of `call`, `RUNNERS` in flight. */
async function concurrently(n: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: RUNNERS }, async () => {
      while (next < n) await call(next++);
    }),
  );
}

async function rollouts(store: LightningStore, agent: Agent<any>, resourcesId: string, n: number): Promise<void> {
  const stop = new AbortController();
  const runners = Array.from({ length: RUNNERS }, (_, i) => new Runner({ store, agent, workerId: `bench-${i}` }));
  const enq = await store.enqueueManyRollouts(
    Array.from({ length: n }, (_, i) => ({ input: tasks[i % tasks.length], mode: "train" as const, resourcesId })),
  );
  const running = runners.map((r) => r.iterate({ signal: stop.signal }));
  const ids = enq.map((r) => r.rolloutId);
  for (;;) {
    const done = await store.waitForRollouts(ids, { timeoutMs: 1000 });
    if (done.length === ids.length) break;
  }
  stop.abort();
  await Promise.all(running);
}

const tok = new ArithmeticTokenizer();
const policy = await Policy.create({ ...ARITHMETIC_POLICY, seed: 1 });
const store = await openStore();
const served = await servePolicy(store, policy, tok, "arclight-policy", { temperature: 1, maxTokens: 1, evalTemperature: 0, seed: 1 });
const res = (await store.getResourcesById(served.trainResourcesId))!;
const llm = res.resources.llm as { endpoint: string; model: string };
const prompts = tasks.map((t) => tok.encode(`${t.a}+${t.b}=`));
const noop = rollout(async () => emitReward(1), { name: "noop" });

/** Runs `f` with the proxy's in-process route on or off (off: every LLM call goes over HTTP). */
async function routed(on: boolean, f: () => Promise<void>): Promise<void> {
  const was = useLocalRoutes(on);
  try {
    await f();
  } finally {
    useLocalRoutes(was);
  }
}
// The SDK's own create, kept before instrumentation patches it, prices the agent's client code alone.
type Create = (this: unknown, body: object) => Promise<unknown>;
const Completions = Object.getPrototypeOf(new OpenAI({ apiKey: "none", baseURL: llm.endpoint }).chat.completions) as { create: Create };
const bareCreate = Completions.create;
// The runner instruments the SDK; do it up front so the plain client parts see the same client.
await instrumentOpenAI();
if (Completions.create === bareCreate)
  throw new Error("bench: instrumentOpenAI did not patch the SDK's create; the agent part would be wrong");
const canned = JSON.stringify({
  id: "chatcmpl-0",
  object: "chat.completion",
  created: 0,
  model: llm.model,
  choices: [{ index: 0, message: { role: "assistant", content: "7" }, finish_reason: "stop", logprobs: null, token_ids: [7] }],
  usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 },
  prompt_token_ids: [3, 10, 4, 11],
});
const cannedFetch = async () => new Response(canned, { status: 200, headers: { "content-type": "application/json" } });
const calls = (n: number, fetch?: typeof cannedFetch) => {
  const client = new OpenAI({ baseURL: llm.endpoint, apiKey: "none", ...(fetch ? { fetch } : {}) });
  return concurrently(n, (i) =>
    client.chat.completions.create({
      model: llm.model,
      messages: [{ role: "user", content: `${tasks[i % tasks.length].a}+${tasks[i % tasks.length].b}=` }],
      temperature: 1,
      max_tokens: 1,
    }),
  );
};

/** The demo agent's client code with the SDK as it ships: a client per rollout, one call. */
const agentOwn = (n: number) =>
  concurrently(n, (i) => {
    const client = new OpenAI({ baseURL: llm.endpoint, apiKey: "none", fetch: cannedFetch });
    const t = tasks[i % tasks.length];
    return bareCreate.call(client.chat.completions, {
      model: llm.model,
      messages: [{ role: "user", content: `${t.a}+${t.b}=` }],
      temperature: 1,
      max_tokens: 1,
    });
  });

const parts: Record<string, (n: number) => Promise<void>> = {
  sampling: (n) =>
    concurrently(n, (i) => policy.generate([prompts[i % prompts.length]], { n: 1, temperature: 1, maxTokens: 1, stop: [tok.eosId] })),
  http: (n) => routed(false, () => calls(n)),
  local: (n) => routed(true, () => calls(n)),
  sdk: (n) => calls(n, cannedFetch),
  agent: agentOwn,
  "store+runner": (n) => rollouts(store, noop, served.trainResourcesId, n),
  "full-http": (n) => routed(false, () => rollouts(store, additionAgent, served.trainResourcesId, n)),
  full: (n) => routed(true, () => rollouts(store, additionAgent, served.trainResourcesId, n)),
};

// PARTS=full,http measures only those (e.g. under --cpu-prof).
for (const k of Object.keys(parts)) if (process.env.PARTS && !process.env.PARTS.split(",").includes(k)) delete parts[k];
// Warm up every path (JIT, sockets), then measure each part twice, interleaved.
for (const f of Object.values(parts)) await f(200);
const results: Record<string, Cost[]> = {};
for (let round = 0; round < ROUNDS; round++)
  for (const [k, f] of Object.entries(parts)) (results[k] ??= []).push(await timed(N, () => f(N)));
await served.close();
await store.close();

const best = (k: string) => results[k].reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
const f3 = (x: number) => x.toFixed(3);
console.log(`loop overhead: ${N} rollouts per part, ${RUNNERS} runners, memory store, best of ${ROUNDS} (by CPU)`);
console.log(`part           wall ms/rollout  CPU ms/rollout`);
for (const k of Object.keys(parts)) console.log(`${k.padEnd(14)} ${f3(best(k).wallMs).padStart(15)}  ${f3(best(k).cpuMs).padStart(14)}`);
const s = results.sampling && best("sampling");
for (const k of ["full-http", "full"]) {
  const full = results[k] && best(k);
  if (s && full)
    console.log(
      `${k} outside sampling (${k} - sampling): wall ${f3(full.wallMs - s.wallMs)} ms, CPU ${f3(full.cpuMs - s.cpuMs)} ms per rollout; ${k} / sampling = ${(full.cpuMs / s.cpuMs).toFixed(1)}x CPU`,
    );
}
const agent = results.agent && best("agent");
if (s && agent && results.full) {
  const own = best("full").cpuMs - s.cpuMs - agent.cpuMs;
  const ownWall = best("full").wallMs - s.wallMs - agent.wallMs;
  console.log(
    `Arclight's own (full - sampling - agent): wall ${f3(ownWall)} ms, CPU ${f3(own)} ms per rollout; the agent's client code: CPU ${f3(agent.cpuMs)} ms`,
  );
}
if (results.full && results["full-http"])
  console.log(
    `full / full-http (same run): ${(best("full").cpuMs / best("full-http").cpuMs).toFixed(2)}x CPU, ${(best("full").wallMs / best("full-http").wallMs).toFixed(2)}x wall`,
  );

// The in-process route's transport: the LLM proxy's own Node handler called
// without a socket, by src/server/local-fetch.ts (hand-written) and by
// light-my-request (fastify's inject; it comes with fastify, not as a
// dependency of its own). The same chat request to the same proxy, answered
// as a web Response, which is what the `openai` client's fetch needs:
//   hand-written  localFetch, as the route runs it;
//   lmr           inject (option checks off), its buffered result made a Response;
//   lmr-stream    inject with the body as a stream (what relaying a streamed upstream needs), wrapped;
//   lmr-json      inject's own result parsed, no Response (its floor);
//   http          Node's fetch over loopback, for scale.
// Generation is a canned one-token reply, so the transport and the proxy's
// handler are all that is timed. CPU (every thread) and wall per request,
// sequential, parts interleaved, best of 3 rounds.
// Run: npx tsx bench/loop/local-fetch.ts [requests]
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { inject } from "light-my-request";
import { openStore } from "../../src/store/index.js";
import { LlmProxy, PolicyBackend, type GeneratorLike } from "../../src/llm/index.js";
import { ArithmeticTokenizer } from "../../src/examples/index.js";
import { localFetch } from "../../src/server/local-fetch.js";

const N = Number(process.argv[2] ?? 5000);
const tok = new ArithmeticTokenizer();
const canned: GeneratorLike = { config: { ctx: 8 }, generate: async () => ({ tokens: [[7]], logprobs: [[-0.5]] }) };
const store = await openStore();
const proxy = await new LlmProxy({ backend: new PolicyBackend({ policy: canned, tokenizer: tok, model: "m", seed: 1 }), store }).start();
// The handler the proxy's HTTP server runs (LlmProxy keeps its server private; a bench may look).
const handler = (proxy as unknown as { server: Server }).server.listeners("request")[0] as (
  req: IncomingMessage,
  res: ServerResponse,
) => void;
const url = `${proxy.url}/chat/completions`;
const path = new URL(url).pathname;
const headers = { "content-type": "application/json", accept: "application/json", authorization: "Bearer none" };
const body = (i: number) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: `${i % 5}+${(i >> 3) % 5}=` }], temperature: 1, max_tokens: 1 });
const signal = () => new AbortController().signal;

const hand = localFetch(handler);
const parts: Record<string, (i: number) => Promise<unknown>> = {
  "hand-written": async (i) => (await hand(url, { method: "POST", headers, body: body(i), signal: signal() })!).json(),
  lmr: async (i) => {
    const r = await inject(handler, { method: "POST", url: path, headers, payload: body(i), signal: signal(), validate: false });
    return new Response(r.rawPayload, { status: r.statusCode, headers: r.headers as Record<string, string> }).json();
  },
  "lmr-stream": async (i) => {
    const r = await inject(handler, {
      method: "POST",
      url: path,
      headers,
      payload: body(i),
      signal: signal(),
      payloadAsStream: true,
      validate: false,
    });
    const web = Readable.toWeb(r.stream()) as ReadableStream<Uint8Array>;
    return new Response(web, { status: r.statusCode, headers: r.headers as Record<string, string> }).json();
  },
  "lmr-json": async (i) =>
    (await inject(handler, { method: "POST", url: path, headers, payload: body(i), signal: signal(), validate: false })).json(),
  http: async (i) => (await fetch(url, { method: "POST", headers, body: body(i), signal: signal() })).json(),
};

// Every transport answers the same: one parsed body each, compared once.
const answers = await Promise.all(Object.values(parts).map((f) => f(0) as Promise<{ choices: unknown[]; prompt_token_ids?: unknown }>));
for (const a of answers)
  if (JSON.stringify(a.choices) !== JSON.stringify(answers[0].choices)) throw new Error("the transports answered differently");

const best: Record<string, { cpuUs: number; wallUs: number }> = {};
for (const f of Object.values(parts)) for (let i = 0; i < 500; i++) await f(i);
for (let round = 0; round < 3; round++)
  for (const [k, f] of Object.entries(parts)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await f(i);
    const wallUs = ((performance.now() - t0) * 1000) / N;
    const c = process.cpuUsage(c0);
    const cpuUs = (c.user + c.system) / N;
    if (!best[k] || cpuUs < best[k].cpuUs) best[k] = { cpuUs, wallUs };
  }
await proxy.close();
await store.close();

const base = best["hand-written"];
console.log(`in-process transport: ${N} chat requests per round, sequential, best of 3 (by CPU)`);
console.log("transport      CPU us/req  wall us/req  CPU / hand-written");
for (const [k, b] of Object.entries(best))
  console.log(
    `${k.padEnd(14)} ${b.cpuUs.toFixed(1).padStart(10)}  ${b.wallUs.toFixed(1).padStart(11)}  ${(b.cpuUs / base.cpuUs).toFixed(2).padStart(8)}x`,
  );

// The proxy under hostile input (issue 11): every request gets a 2xx or a 4xx
// with an OpenAI-style error body before any generation runs, never a 5xx, a
// hang or a reset; slow, vanishing and keep-alive clients leave it serving
// with flat memory. Served by a real tiny native policy over the byte-level
// tokenizer, plus the demo's arithmetic tokenizer for out-of-vocabulary text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request, Agent, type IncomingHttpHeaders } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { ArithmeticTokenizer } from "../src/examples/arithmetic-tokenizer.js";
import { ARITHMETIC_POLICY } from "../src/examples/arithmetic.js";
import { ValidationError } from "../src/types/errors.js";

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
let arith: agl.llm.LlmProxy;
let generateCalls = 0;
let rolloutId = "";
let attemptId = "";

before(async () => {
  store = await agl.openStore();
  const policy = await agl.native.Policy.create({ family: "gpt2", layers: 1, dModel: 16, heads: 2, vocab: 260, ctx: 96, seed: 1 });
  const counted: agl.llm.GeneratorLike = {
    config: policy.config,
    generate: (p, o) => {
      generateCalls++;
      return policy.generate(p, o);
    },
  };
  proxy = await agl.llm.startLlmProxy({
    store,
    backend: new agl.llm.PolicyBackend({
      policy: counted,
      tokenizer: new agl.tokenizer.ByteTokenizer({ chatTemplate: "chatml" }),
      model: "tiny",
    }),
    maxBodyBytes: 4096,
    defaultMaxTokens: 8,
  });
  const ap = await agl.native.Policy.create({ ...ARITHMETIC_POLICY, seed: 1 });
  arith = await agl.llm.startLlmProxy({
    store,
    backend: new agl.llm.PolicyBackend({ policy: ap, tokenizer: new ArithmeticTokenizer(), model: "arith" }),
  });
  const ar = await store.startRollout({ input: null });
  rolloutId = ar.rolloutId;
  attemptId = ar.attempt.attemptId;
});
after(async () => {
  await proxy.close();
  await arith.close();
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });

/** One raw HTTP request; `trickle` writes the body a few bytes at a time with pauses (a slow client). */
function send(
  base: string,
  method: string,
  path: string,
  body?: string,
  opts: { headers?: Record<string, string>; trickle?: number; agent?: Agent } = {},
): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        agent: opts.agent ?? keepAlive,
        headers: { "content-type": "application/json", ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body === undefined) return void req.end();
    if (!opts.trickle) return void req.end(body);
    const buf = Buffer.from(body);
    let at = 0;
    const step = () => {
      if (at >= buf.length) return void req.end();
      req.write(buf.subarray(at, at + opts.trickle!));
      at += opts.trickle!;
      setTimeout(step, 2);
    };
    step();
  });
}

/** The contract: 2xx, or a 4xx whose JSON body is `{ error: { message, type } }` (OpenAI's shape, or Anthropic's on /v1/messages). */
function assertContract(r: Reply, what: string): void {
  assert.ok(r.status >= 200 && r.status < 500, `${what}: status ${r.status} ${r.text.slice(0, 300)}`);
  if (r.status >= 300) {
    assert.ok(r.status >= 400, `${what}: status ${r.status}`);
    const body = JSON.parse(r.text) as { error?: { message?: unknown; type?: unknown } };
    assert.equal(typeof body.error?.message, "string", `${what}: error body ${r.text}`);
    assert.equal(typeof body.error?.type, "string", `${what}: error body ${r.text}`);
  }
}

const ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/messages"];
const base = () => proxy.url.replace(/\/v1$/, "");

/** Mostly a valid value, sometimes a hostile one, so both validation and generation are reached. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: bad, weight: 1 });
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.string({ unit: "binary", maxLength: 10 }),
);
const message = fc.record({
  role: mostly(fc.constantFrom("system", "user", "assistant", "tool", "developer"), fc.string({ maxLength: 5 })),
  content: mostly(
    text,
    fc.oneof(fc.constant(null), fc.array(fc.record({ type: fc.constant("text"), text }), { maxLength: 2 }), fc.jsonValue({ maxDepth: 1 })),
  ),
});
const sampling = {
  max_tokens: mostly(fc.integer({ min: 1, max: 8 }), fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.constant(null))),
  seed: mostly(fc.integer({ min: 0, max: 5 }), fc.oneof(fc.integer({ min: -5, max: -1 }), fc.double(), fc.constant(2 ** 60))),
  temperature: mostly(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: -1, max: 3 })),
  stream: fc.boolean(),
};
const tool = fc.record({
  type: mostly(fc.constant("function"), fc.string({ maxLength: 4 })),
  function: fc.record({
    name: mostly(fc.constantFrom("calc", "search"), fc.string({ maxLength: 5 })),
    parameters: mostly(fc.constant({ type: "object", properties: { q: { type: "string" } } }), fc.jsonValue({ maxDepth: 1 })),
  }),
});
const toolCall = fc.record({
  id: fc.string({ minLength: 1, maxLength: 6 }),
  type: fc.constant("function"),
  function: fc.record({ name: fc.constantFrom("calc", "nope"), arguments: mostly(fc.constant('{"q":"x"}'), fc.string({ maxLength: 8 })) }),
});
const chatBody = fc.record(
  {
    model: mostly(fc.constant("tiny"), fc.constantFrom("gpt-9", "", 3)),
    messages: mostly(
      fc.array(
        fc.oneof(
          message,
          fc.record({
            role: fc.constant("assistant"),
            content: fc.constant(null),
            tool_calls: fc.array(toolCall, { minLength: 1, maxLength: 2 }),
          }),
          fc.record({ role: fc.constant("tool"), content: text, tool_call_id: fc.string({ maxLength: 4 }) }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    n: mostly(fc.integer({ min: 1, max: 2 }), fc.integer({ min: -1, max: 100 })),
    stop: mostly(
      fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.string({ maxLength: 2 }), { maxLength: 3 })),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    tools: mostly(fc.array(tool, { maxLength: 2 }), fc.jsonValue({ maxDepth: 2 })),
    tool_choice: mostly(
      fc.constantFrom("auto", "none", "required", { type: "function", function: { name: "calc" } }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    ...sampling,
  },
  { requiredKeys: ["model", "messages"] },
);
const completionBody = fc.record(
  { model: mostly(fc.constant("tiny"), fc.constantFrom("gpt-9", "")), prompt: mostly(text, fc.jsonValue({ maxDepth: 1 })), ...sampling },
  { requiredKeys: ["model", "prompt"] },
);
const anthropicBlock = fc.oneof(
  fc.record({ type: fc.constant("text"), text }),
  fc.record({
    type: fc.constant("tool_use"),
    id: fc.string({ minLength: 1, maxLength: 4 }),
    name: fc.constantFrom("calc", "zz"),
    input: mostly(fc.constant({ q: "1" }), fc.jsonValue({ maxDepth: 1 })),
  }),
  fc.record({ type: fc.constant("tool_result"), tool_use_id: fc.string({ minLength: 1, maxLength: 4 }), content: text }),
  fc.record({ type: fc.constant("image"), source: fc.jsonValue({ maxDepth: 1 }) }),
);
const messagesBody = fc.record(
  {
    model: mostly(fc.constant("tiny"), fc.constantFrom("claude-9", "")),
    max_tokens: mostly(fc.integer({ min: 1, max: 8 }), fc.jsonValue({ maxDepth: 0 })),
    messages: mostly(
      fc.array(
        fc.record({
          role: mostly(fc.constantFrom("user", "assistant"), fc.string({ maxLength: 4 })),
          content: fc.oneof(text, fc.array(anthropicBlock, { maxLength: 3 })),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    system: mostly(text, fc.jsonValue({ maxDepth: 1 })),
    tools: mostly(
      fc.array(fc.record({ name: fc.constantFrom("calc", "a b"), input_schema: fc.constant({ type: "object" }) }), { maxLength: 2 }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    tool_choice: mostly(fc.constantFrom({ type: "auto" }, { type: "any" }, { type: "tool", name: "calc" }), fc.jsonValue({ maxDepth: 1 })),
    stream: fc.boolean(),
  },
  { requiredKeys: ["model", "max_tokens", "messages"] },
);
/** Bodies near each route's real shape (so validation and generation are reached), sent to any route, and arbitrary JSON. */
const body = fc.oneof(
  { weight: 2, arbitrary: chatBody },
  { weight: 1, arbitrary: completionBody },
  { weight: 2, arbitrary: messagesBody },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

test("arbitrary JSON bodies on every route, over keep-alive connections, get a 2xx or an OpenAI-style 4xx", {
  timeout: 120_000,
}, async () => {
  let served = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      fc.constantFrom("POST", "POST", "POST", "GET"),
      body,
      fc.boolean(),
      async (route, method, b, attributed) => {
        const path = attributed ? `/rollout/${rolloutId}/attempt/${attemptId}${route}` : route;
        const r = await send(base(), method, path, method === "POST" ? JSON.stringify(b) : undefined);
        assertContract(r, `${method} ${path} ${JSON.stringify(b).slice(0, 200)}`);
        if (r.status === 200 && method === "POST") served++;
      },
    ),
    { numRuns: 300, seed: 11 },
  );
  assert.ok(served >= 8, `only ${served} bodies reached generation; the generator no longer exercises it`);
});

test("arbitrary paths, raw bytes and broken percent-encoding never get a 5xx", { timeout: 60_000 }, async () => {
  const segment = fc.oneof(
    fc.string({ maxLength: 8 }).map(encodeURIComponent),
    fc.constantFrom("%", "%E0%A4%A", "%zz", "%00", "..", "rollout", "attempt", "v1"),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(segment, { maxLength: 6 }),
      fc.constantFrom(...ROUTES),
      fc.string({ maxLength: 30 }),
      async (segs, route, raw) => {
        const r1 = await send(base(), "POST", `/${segs.join("/")}`, raw);
        assertContract(r1, `path /${segs.join("/")}`);
        const r2 = await send(base(), "POST", `/rollout/${segs[0] ?? "%E0%A4%A"}/attempt/${segs[1] ?? "x"}${route}`, raw);
        assertContract(r2, `rollout path ${segs.slice(0, 2).join("/")}`);
      },
    ),
    { numRuns: 100, seed: 12 },
  );
});

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, ...extra });

test("each defect found by the fuzz campaign is a 4xx before any generation runs", { timeout: 30_000 }, async () => {
  const before = generateCalls;
  const expect = async (r: Promise<Reply>, status: number, re: RegExp) => {
    const got = await r;
    assert.equal(got.status, status, got.text);
    assertContract(got, String(re));
    assert.match(JSON.parse(got.text).error.message, re);
  };
  await expect(send(base(), "POST", "/v1/chat/completions", chat({ seed: -1 })), 400, /seed/);
  await expect(send(base(), "POST", "/v1/chat/completions", chat({ seed: 2 ** 60 })), 400, /seed/);
  await expect(send(base(), "POST", "/v1/completions", JSON.stringify({ model: "tiny", prompt: "" })), 400, /empty/);
  await expect(send(base(), "POST", "/rollout/%E0%A4%A/attempt/x/v1/chat/completions", chat()), 400, /percent-encoding/);
  await expect(send(base(), "POST", "/rollout/nope/attempt/x/v1/chat/completions", chat()), 404, /rollout "nope" does not exist/);
  await expect(send(base(), "POST", `/rollout/${rolloutId}/attempt/nope/v1/chat/completions`, chat()), 404, /attempt "nope"/);
  await expect(
    send(base(), "POST", "/v1/chat/completions", chat(), { headers: { "x-arclight-rollout-id": "nope", "x-arclight-attempt-id": "x" } }),
    404,
    /does not exist/,
  );
  await expect(send(base(), "POST", "/v1/chat/completions", chat(), { headers: { "x-arclight-rollout-id": rolloutId } }), 400, /together/);
  const arithBase = arith.url.replace(/\/v1$/, "");
  await expect(
    send(arithBase, "POST", "/v1/chat/completions", JSON.stringify({ model: "arith", messages: [{ role: "user", content: "hello" }] })),
    400,
    /not in the vocabulary/,
  );
  await expect(
    send(arithBase, "POST", "/v1/chat/completions", JSON.stringify({ model: "arith", messages: [{ role: "system", content: "1+1=" }] })),
    400,
    /needs a user message/,
  );
  const big = await send(base(), "POST", "/v1/chat/completions", chat({ pad: "x".repeat(100_000) }), { agent: new Agent() });
  assert.equal(big.status, 413);
  assert.equal(JSON.parse(big.text).error.code, "request_too_large");
  assert.equal(generateCalls, before, "no generation ran for any of them");
  assert.equal((await store.querySpans({ rolloutId })).filter((s) => s.status.statusCode === "ERROR").length, 0);
  assert.equal((await send(base(), "POST", "/v1/chat/completions", chat())).status, 200, "and the proxy still serves");
});

test("PolicyBackend checks its options at construction", () => {
  const tokenizer = new agl.tokenizer.ByteTokenizer();
  const policy: agl.llm.GeneratorLike = { config: { ctx: 8 }, generate: async () => ({ tokens: [], logprobs: [] }) };
  const bad = (o: unknown, re: RegExp) =>
    assert.throws(
      () => new agl.llm.PolicyBackend(o as agl.llm.PolicyBackendOptions),
      (e: Error) => e instanceof ValidationError && re.test(e.message),
    );
  bad({ policy, tokenizer }, /model must be a non-empty string/);
  bad({ policy, tokenizer, model: "" }, /model/);
  bad({ tokenizer, model: "m" }, /policy must have a generate/);
  bad({ policy, model: "m" }, /tokenizer must have/);
  bad({ policy, tokenizer, model: "m", seed: -1 }, /seed/);
  bad({ policy, tokenizer, model: "m", maxBatch: 0 }, /maxBatch/);
  bad(null, /options/);
  assert.deepEqual(new agl.llm.PolicyBackend({ policy, tokenizer, model: "m" }).models(), ["m"]);
});

test("slow clients, clients that vanish mid-body or mid-stream, and keep-alive reuse leave the proxy serving with flat memory", {
  timeout: 120_000,
}, async (t) => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const vanish = (streaming: boolean) =>
    new Promise<void>((resolve) => {
      const u = new URL(base());
      const req = request(
        { host: u.hostname, port: u.port, method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" } },
        (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
          res.on("end", resolve);
        },
      );
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      const b = chat({ stream: streaming, max_tokens: 40 });
      if (streaming) req.end(b);
      else {
        req.write(b.slice(0, 10));
        setTimeout(() => req.destroy(), 5);
      }
    });
  const round = async (i: number) => {
    const slow = await send(base(), "POST", "/v1/chat/completions", chat({ stream: i % 2 === 0 }), { trickle: 16 });
    assertContract(slow, "trickled body");
    assert.equal(slow.status, 200);
    await vanish(true);
    await vanish(false);
    assertContract(await send(base(), "POST", "/v1/chat/completions", chat({ seed: -1 })), "bad seed");
    assertContract(await send(base(), "GET", "/v1/models"), "models");
  };
  for (let i = 0; i < 15; i++) await round(i);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < 60; i++) await round(i);
  gc();
  const grown = process.memoryUsage().heapUsed - heap0;
  t.diagnostic(`heap grew ${(grown / 1024).toFixed(0)} KB over 300 requests`);
  // 300 requests; a leak of even a few KB per request (a kept body or listener) would show as several MB
  assert.ok(grown < 8 << 20, `heap grew ${(grown / 1048576).toFixed(1)} MB over 300 requests`);
  const ok = await send(base(), "POST", "/v1/chat/completions", chat());
  assert.equal(ok.status, 200);
});

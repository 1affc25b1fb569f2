// The LLM proxy's in-process route (src/tracer/local-routes.ts, issue 14): an
// instrumented `openai` client in the proxy's own process reaches the proxy's
// handler without a socket and gets what HTTP gives it: the same bytes, the
// same recorded spans, the same errors, aborts that reach the generation.
// Clients Arclight does not instrument (or that bring their own fetch) still
// go over HTTP. Requests served over HTTP are counted with Node's
// `http.server.request.start` diagnostics channel.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import dc from "node:diagnostics_channel";
import { inspect } from "node:util";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { fetchLocally, useLocalRoutes } from "../src/tracer/local-routes.js";
import { localFetch } from "../src/server/local-fetch.js";
import { startFakeOpenAI, type FakeOpenAI } from "./helpers/fake-openai.js";

const bytes: agl.llm.TokenizerLike = {
  encode: (t) => [...Buffer.from(t, "utf8")],
  decode: (ids) => Buffer.from(ids.filter((i) => i < 256)).toString("utf8"),
  applyChatTemplate: (msgs, o) => msgs.map((m) => `${m.role}: ${m.content}\n`).join("") + (o?.addGenerationPrompt ? "assistant:" : ""),
  eosId: 256,
};

/** Answers the last user line reversed; "slow" waits (abortably) for 5 s first. */
class Scripted implements agl.llm.GeneratorLike {
  config = { ctx: 128 };
  aborted = 0;
  async generate(prompts: number[][], opts: { n?: number; maxTokens?: number; signal?: AbortSignal }) {
    const text = Buffer.from(prompts[0]).toString().split("\n").at(-2)?.split(": ")[1] ?? "";
    if (text === "slow")
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, 5000);
        opts.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          this.aborted++;
          reject(opts.signal?.reason);
        });
      });
    const out = [...Buffer.from([...text].reverse().join(""))].slice(0, opts.maxTokens ?? 99);
    const full = out.length < (opts.maxTokens ?? 99) ? [...out, 256] : out;
    const n = opts.n ?? 1;
    return {
      tokens: Array.from({ length: n }, () => full),
      logprobs: Array.from({ length: n }, () => full.map((_, i) => -0.25 * (i + 1))),
    };
  }
}

let overHttp = 0;
const countHttp = () => overHttp++;
let store: agl.LightningStore;
let policy: Scripted;
let proxy: agl.llm.LlmProxy;
before(async () => {
  dc.subscribe("http.server.request.start", countHttp);
  await agl.instrumentOpenAI();
  store = await agl.openStore();
  policy = new Scripted();
  proxy = await agl.llm.startLlmProxy({ store, backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }) });
});
after(async () => {
  dc.unsubscribe("http.server.request.start", countHttp);
  await proxy.close();
  await store.close();
});

/** Runs `f` with the in-process route on or off; returns its result and how many requests went over HTTP. */
async function routed<T>(local: boolean, f: () => Promise<T>): Promise<{ value: T; http: number }> {
  const was = useLocalRoutes(local);
  const before = overHttp;
  try {
    const value = await f();
    return { value, http: overHttp - before };
  } finally {
    useLocalRoutes(was);
  }
}

/** Response text with the per-call parts (ids, creation time) masked. */
const masked = (s: string) => s.replace(/"(chatcmpl|cmpl)-[0-9a-f-]+"/g, '"$1-ID"').replace(/"created":\d+/g, '"created":0');

async function raw(r: Response): Promise<{ status: number; type: string | null; body: string }> {
  return { status: r.status, type: r.headers.get("content-type"), body: masked(await r.text()) };
}

test("an instrumented client in the proxy's process is answered without a socket, with what HTTP gives (plain and streamed)", async () => {
  const ar = await store.startRollout({ input: null });
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId) });
  const chunks = async (s: AsyncIterable<unknown>) => {
    const out: unknown[] = [];
    for await (const c of s) out.push(c);
    return masked(JSON.stringify(out));
  };
  const calls: (() => Promise<string>)[] = [
    async () =>
      masked(JSON.stringify(await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hello" }], n: 2 }))),
    async () =>
      chunks(
        await client.chat.completions.create({
          model: "tiny",
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: "user", content: "naïve" }],
        }),
      ),
    async () => masked(JSON.stringify(await client.completions.create({ model: "tiny", prompt: "user: abc\n", max_tokens: 2 }))),
    async () => chunks(await client.completions.create({ model: "tiny", prompt: "user: abc\n", stream: true })),
  ];
  for (const call of calls) {
    const local = await routed(true, call);
    const http = await routed(false, call);
    assert.equal(local.http, 0, "the in-process route used no socket");
    assert.equal(http.http, 1, "with the route off, the call went over HTTP");
    assert.equal(local.value, http.value);
  }
  assert.match((await routed(true, calls[0])).value, /"content":"olleh"/);
  assert.match((await routed(true, calls[1])).value, /"content":"e"/);
});

test("the in-process route answers a request with the bytes and headers HTTP answers it with", async () => {
  const ar = await store.startRollout({ input: null });
  const base = proxy.urlFor(ar.rolloutId, ar.attempt.attemptId);
  const requests: [string, object][] = [
    ["/chat/completions", { model: "tiny", messages: [{ role: "user", content: "hello" }], n: 2 }],
    [
      "/chat/completions",
      { model: "tiny", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "naïve" }] },
    ],
    ["/completions", { model: "tiny", prompt: "user: abc\n", stream: true }],
    ["/chat/completions", { model: "missing", messages: [{ role: "user", content: "a" }] }],
    ["/chat/completions", { model: "tiny", messages: "not a list" }],
  ];
  for (const [path, body] of requests) {
    const init = { method: "POST", headers: { "content-type": "application/json", "x-arclight-traced": "1" }, body: JSON.stringify(body) };
    const local = await raw(await fetchLocally(base + path, init)!);
    const before = overHttp;
    const http = await raw(await fetch(base + path, init));
    assert.equal(overHttp - before, 1);
    assert.deepEqual(local, http, `${path} ${JSON.stringify(body)}`);
  }
  assert.equal(fetchLocally("http://127.0.0.1:1/v1/models", {}), undefined, "an origin no proxy serves is not taken");

  // Bodies the handler takes whole in process (not JSON, over the limit, bytes) answer as over HTTP.
  const small = await agl.llm.startLlmProxy({
    backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }),
    maxBodyBytes: 256,
  });
  try {
    const ok = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hé" }] });
    for (const body of [
      "{not json",
      JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x".repeat(300) }] }),
      ok,
      new TextEncoder().encode(ok),
    ]) {
      const init = { method: "POST", headers: { "content-type": "application/json" }, body };
      const url = `${small.url}/chat/completions`;
      const local = await raw(await fetchLocally(url, init)!);
      const http = await raw(await fetch(url, init));
      assert.deepEqual(local, http, String(body).slice(0, 40));
    }
  } finally {
    await small.close();
  }
});

/** A rollout's spans without what differs between any two runs (ids, times). */
function comparable(spans: agl.Span[]) {
  return spans.map((s) => ({
    sequenceId: s.sequenceId,
    name: s.name,
    status: s.status,
    parent: s.parentId === null ? null : spans.findIndex((p) => p.spanId === s.parentId),
    attributes: Object.fromEntries(
      Object.entries(s.attributes)
        .filter(([k]) => k !== "gen_ai.response.id")
        .map(([k, v]) => [k, v]),
    ),
    events: s.events.map((e) => e.name),
  }));
}

test("rollouts run by a Runner record the same spans whether their calls go in process or over HTTP", async () => {
  const agent = agl.rollout(async (task: { q: string }, ctx) => {
    const client = new OpenAI({ apiKey: "x", baseURL: ctx.llm!.endpoint });
    const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: task.q }], max_tokens: 4 });
    let streamed = "";
    for await (const c of await client.chat.completions.create({
      model: "tiny",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: `${task.q}!` }],
    }))
      streamed += c.choices[0]?.delta?.content ?? "";
    return r.choices[0].message.content === [...task.q].reverse().join("").slice(0, 4) && streamed.startsWith("!") ? 1 : 0;
  });
  const res = await store.addResources({ llm: proxy.resource("tiny") });
  const runOne = async () => {
    const [r] = await store.enqueueManyRollouts([{ input: { q: "abcdef" }, resourcesId: res.resourcesId }]);
    const runner = new agl.runner.Runner({ store, agent, workerId: `w-${r.rolloutId}` });
    await runner.iterate({ maxRollouts: 1 });
    const [done] = await store.waitForRollouts([r.rolloutId], { timeoutMs: 5000 });
    assert.equal(done.status, "succeeded");
    const spans = await store.querySpans({ rolloutId: r.rolloutId });
    assert.equal(agl.adapter.finalReward(spans), 1, "the agent saw the answers it expected");
    return comparable(spans);
  };
  const local = await routed(true, runOne);
  const http = await routed(false, runOne);
  assert.equal(local.http, 0);
  assert.equal(http.http, 2);
  assert.deepEqual(local.value, http.value);
  // Each call recorded once (by the client's instrumentation), with the token ids training needs.
  const llm = local.value.filter((s) => s.attributes["gen_ai.operation.name"] === "chat");
  assert.equal(llm.length, 2);
  assert.deepEqual(llm[0].attributes["gen_ai.completion.token_ids"], [...Buffer.from("fedc")]);
});

test("clients Arclight does not route still reach the proxy over HTTP: a plain fetch, and an openai client with a fetch of its own", async () => {
  const ar = await store.startRollout({ input: null });
  const url = `${proxy.urlFor(ar.rolloutId, ar.attempt.attemptId)}/chat/completions`;
  const plain = await routed(true, async () => {
    const r = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "plain" }] }),
    });
    return (await r.json()) as { choices: { message: { content: string } }[] };
  });
  assert.equal(plain.http, 1);
  assert.equal(plain.value.choices[0].message.content, "nialp");
  let ownFetchCalls = 0;
  const client = new OpenAI({
    apiKey: "x",
    baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId),
    fetch: (u, i) => (ownFetchCalls++, fetch(u, i)),
  });
  const own = await routed(true, () => client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "own" }] }));
  assert.equal(own.http, 1);
  assert.equal(ownFetchCalls, 1);
  assert.equal(own.value.choices[0].message.content, "nwo");
  // The proxy recorded the plain call (nothing traced it); the instrumented client traces its own calls.
  const spans = await store.querySpans({ rolloutId: ar.rolloutId });
  assert.deepEqual(
    spans.map((s) => s.attributes["gen_ai.output.messages"]),
    [JSON.stringify([{ role: "assistant", content: "nialp" }])],
  );
});

test("errors, the token check and a client's abort behave in process as over HTTP", async () => {
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.url, maxRetries: 0 });
  const unknownModel = () =>
    client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "a" }] }).then(
      () => assert.fail("expected a 404"),
      (e: InstanceType<typeof OpenAI.APIError>) => ({ status: e.status, name: e.constructor.name, body: e.error }),
    );
  const local = await routed(true, unknownModel);
  assert.equal(local.http, 0);
  assert.deepEqual(local.value, (await routed(false, unknownModel)).value);
  assert.equal(local.value.status, 404);

  // A proxy with a token refuses a wrong key in process too.
  const guarded = await agl.llm.startLlmProxy({
    backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }),
    token: "secret-token",
  });
  try {
    const wrong = new OpenAI({ apiKey: "wrong", baseURL: guarded.url, maxRetries: 0 });
    const right = new OpenAI({ apiKey: "secret-token", baseURL: guarded.url, maxRetries: 0 });
    const refused = await routed(true, () =>
      wrong.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "a" }] }).then(
        () => null,
        (e: InstanceType<typeof OpenAI.APIError>) => e.status,
      ),
    );
    assert.deepEqual(refused, { value: 401, http: 0 });
    const ok = await routed(true, () => right.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "ab" }] }));
    assert.equal(ok.value.choices[0].message.content, "ba");
    assert.equal(ok.http, 0);
  } finally {
    await guarded.close();
  }

  // Aborting the call in process stops the generation, as a closed connection does over HTTP.
  for (const local of [true, false]) {
    const abortedBefore = policy.aborted;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const got = await routed(local, () =>
      client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "slow" }] }, { signal: ac.signal }).then(
        () => "answered",
        (e: Error) => e.constructor.name,
      ),
    );
    assert.equal(got.value, "APIUserAbortError", `local=${local}`);
    const t0 = Date.now();
    while (policy.aborted === abortedBefore && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(policy.aborted, abortedBefore + 1, `the generation saw the abort (local=${local})`);
  }
});

test("a proxy relaying an upstream streams through the in-process route as it does over HTTP", async () => {
  const up: FakeOpenAI = await startFakeOpenAI();
  const relay = await agl.llm.startLlmProxy({ backend: new agl.llm.UpstreamBackend({ baseURL: up.baseURL, models: ["up"] }) });
  try {
    const client = new OpenAI({ apiKey: "x", baseURL: relay.url });
    const call = () =>
      client.chat.completions.create({ model: "up", stream: true, messages: [{ role: "user", content: "hi" }] }).asResponse();
    const local = await routed(true, async () => raw(await call()));
    const http = await routed(false, async () => raw(await call()));
    // The relay itself reaches the upstream over HTTP both times (a plain fetch); the client's call only over HTTP.
    assert.equal(http.http - local.http, 1);
    assert.deepEqual(local.value, http.value);
    assert.match(local.value.body, /"content":"e"/);
  } finally {
    await relay.close();
    await up.close();
  }
});

test("localFetch hands back the response once the handler keeps writing across turns, then streams the rest", async () => {
  let ended = false;
  let closedEarly = false;
  const f = localFetch((req, res) => {
    res.on("close", () => (closedEarly = !res.writableFinished));
    res.writeHead(200, { "content-type": "text/plain", "x-path": req.url ?? "" });
    res.write("a");
    setTimeout(() => res.write("b"), 100);
    setTimeout(() => ((ended = true), res.end("c")), 200);
  });
  const r = await f("http://127.0.0.1:1/x/y?z=1", { method: "GET" })!;
  assert.equal(ended, false, "the response came before the handler ended");
  assert.equal(r.headers.get("x-path"), "/x/y?z=1");
  assert.equal(await r.text(), "abc");
  assert.equal(closedEarly, false);
  assert.equal(f("http://127.0.0.1:1/", { method: "POST", body: new ReadableStream() }), undefined, "a streamed body is left to HTTP");
});

test("a whole in-process answer reads like fetch's: once, as text, JSON, bytes or a stream, cloned first if read twice", async () => {
  const f = localFetch((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      res.writeHead(201, "Made", { "content-type": "application/json", "x-len": req.headers["content-length"] });
      res.end(JSON.stringify({ got: body, method: req.method }));
    });
  });
  const url = "http://127.0.0.1:1/echo";
  const r = await f(url, { method: "post", body: "héllo" })!;
  assert.ok(r instanceof Response);
  assert.deepEqual([r.status, r.statusText, r.ok, r.url, r.headers.get("x-len")], [201, "Made", true, url, "6"]);
  const copy = r.clone();
  assert.deepEqual(await r.json(), { got: "héllo", method: "POST" });
  assert.equal(r.bodyUsed, true);
  await assert.rejects(r.text(), TypeError);
  assert.equal(new TextDecoder().decode(await copy.arrayBuffer()), '{"got":"héllo","method":"POST"}');
  const streamed = await f(url, { method: "POST", body: new Uint8Array([97]) })!;
  const chunks: Uint8Array[] = [];
  for await (const c of streamed.body!) chunks.push(c);
  assert.equal(Buffer.concat(chunks).toString(), '{"got":"a","method":"POST"}');
  assert.equal(streamed.bodyUsed, true);
  const blob = await (await f(url, { method: "POST" })!).blob();
  assert.equal(blob.type, "application/json");
  assert.equal(await blob.text(), '{"got":"","method":"POST"}');
  // The rest of Response's surface, none of it reaching undici's internals (which this object has none of).
  const whole = await f(url, { method: "POST", body: "x" })!;
  assert.deepEqual([whole.type, whole.redirected, whole.headers.get("content-type")], ["default", false, "application/json"]);
  assert.match(inspect(whole), /^Response \{\s+status: 201,\s+statusText: 'Made'/);
  assert.equal(new TextDecoder().decode(await whole.bytes()), '{"got":"x","method":"POST"}');
  // What Response's constructor refuses is refused here too: the fetch rejects, nothing half-made comes back.
  for (const [status, text] of [
    [99, ""],
    [600, ""],
    [200, "bad\r\nline"],
  ] as const) {
    const bad = localFetch((_req, res) => {
      res.statusCode = status;
      res.statusMessage = text;
      res.end("{}");
    });
    await assert.rejects(bad(url)!, status === 200 ? TypeError : RangeError);
  }
});

test("a closed proxy takes its route with it: calls then fail as they would over HTTP", async () => {
  const p = await agl.llm.startLlmProxy({ backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }) });
  const client = new OpenAI({ apiKey: "x", baseURL: p.url, maxRetries: 0 });
  const ok = await routed(true, () => client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "on" }] }));
  assert.equal(ok.value.choices[0].message.content, "no");
  assert.equal(ok.http, 0);
  await p.close();
  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "off" }] }),
    OpenAI.APIConnectionError,
  );
});

test("a proxy on an IPv6 loopback host still starts and serves over HTTP (its URL takes no in-process route)", async () => {
  const p = await agl.llm.startLlmProxy({ backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }), host: "::1" });
  try {
    const port = p.url.split(":").at(-1)?.replace("/v1", "");
    const r = await fetch(`http://[::1]:${port}/v1/models`);
    assert.equal(r.status, 200);
    assert.equal(fetchLocally(`http://[::1]:${port}/v1/models`, {}), undefined);
  } finally {
    await p.close();
  }
});

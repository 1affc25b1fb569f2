// The store server at its HTTP boundary: auth, limits, malformed bodies,
// OpenAPI, long-poll, redaction.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { openStore } from "../src/store/index.js";
import { connectStore, RemoteStoreError } from "../src/store/index.js";
import { buildStoreApp, startStoreServer } from "../src/server/index.js";
import { OPERATIONS, API_PREFIX } from "../src/store/remote-protocol.js";
import { bearerMatches, isLoopbackHost } from "../src/server/auth.js";
import { makeSpan } from "./store-suite.js";

const json = { "content-type": "application/json" };

test("binding beyond loopback without a token is refused; loopback needs none", { timeout: 10_000 }, async () => {
  const store = await openStore();
  try {
    await assert.rejects(startStoreServer({ store, host: "0.0.0.0", port: 0 }), /pass a token/);
    await assert.rejects(startStoreServer({ store, host: "0.0.0.0", port: 0, token: "short" }), /at least 8/);
    const s = await startStoreServer({ store, host: "0.0.0.0", port: 0, token: "a-long-enough-token" });
    await s.close();
    const l = await startStoreServer({ store, port: 0 });
    await l.close();
    assert.ok(isLoopbackHost("127.0.0.1") && isLoopbackHost("::1") && isLoopbackHost("localhost") && isLoopbackHost("[::ffff:127.0.0.2]"));
    assert.ok(!isLoopbackHost("0.0.0.0") && !isLoopbackHost("10.0.0.1") && !isLoopbackHost("::"));
  } finally {
    await store.close();
  }
});

test("a token is checked on every endpoint but health: 401 without it, wrong or malformed", { timeout: 10_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, token: "s3cret-token-1", closeStore: true });
  try {
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}${API_PREFIX}/statistics`, { method: "POST", headers: { ...json, ...headers }, body: "{}" });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ authorization: "Bearer s3cret-token-2" })).status, 401);
    assert.equal((await post({ authorization: "s3cret-token-1" })).status, 401);
    assert.equal((await post({ authorization: "Bearer " })).status, 401);
    assert.equal((await post({ authorization: "Bearer s3cret-token-1" })).status, 200);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(`${server.url}/v1/traces`, { method: "POST", headers: json, body: "{}" })).status, 401);
    await assert.rejects(
      connectStore(server.url, { token: "wrong-token-x" }),
      (e: unknown) => e instanceof RemoteStoreError && e.status === 401,
    );
    const c = await connectStore(server.url, { token: "s3cret-token-1" });
    assert.equal((await c.enqueueRollout({ input: 1 })).status, "queuing");
    await c.close();
    assert.equal(bearerMatches("abc", "bearer abc"), true);
    assert.equal(bearerMatches("abc", ["Bearer abc"]), false);
  } finally {
    await server.close();
  }
});

test("every LightningStore operation has an endpoint and is in the OpenAPI document", { timeout: 10_000 }, async () => {
  const store = await openStore();
  const app = buildStoreApp({ store, closeStore: true });
  try {
    const res = await app.inject({ method: "GET", url: `${API_PREFIX}/openapi.json` });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, { post?: { operationId: string } }> };
    assert.equal(doc.openapi, "3.1.0");
    const ops = Object.values(doc.paths)
      .map((p) => p.post?.operationId)
      .filter(Boolean);
    const methods = [
      "enqueueRollout",
      "enqueueManyRollouts",
      "startRollout",
      "dequeueRollout",
      "dequeueManyRollouts",
      "startAttempt",
      "updateRollout",
      "updateAttempt",
      "getRolloutById",
      "getLatestAttempt",
      "queryRollouts",
      "queryAttempts",
      "waitForRollouts",
      "addSpan",
      "addSpans",
      "querySpans",
      "getNextSpanSequenceId",
      "addResources",
      "updateResources",
      "getResourcesById",
      "getLatestResources",
      "queryResources",
      "queryWorkers",
      "updateWorker",
      "heartbeat",
      "checkDeadlines",
      "statistics",
    ];
    for (const m of methods) assert.ok(ops.includes(m), `${m} missing from OpenAPI`);
    assert.ok(doc.paths["/v1/traces"]);
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
    const missing = await app.inject({ method: "POST", url: `${API_PREFIX}/nope`, payload: {} });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.body, /openapi/);
  } finally {
    await app.close();
  }
});

test("malformed bodies get a 4xx with a message and never a 5xx; the server keeps serving (fuzz)", { timeout: 60_000 }, async () => {
  const store = await openStore();
  // Short long-polls: fuzzed bodies may ask a dequeue to wait.
  const app = buildStoreApp({ store, closeStore: true, bodyLimitBytes: 64 * 1024, maxWaitMs: 50 });
  const paths = Object.values(OPERATIONS).map((o) => `${API_PREFIX}${o.path}`);
  try {
    const r = await store.startRollout({ input: 1, rolloutId: "ro-1" });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc
            .dictionary(
              fc.constantFrom(
                "request",
                "requests",
                "rolloutId",
                "attemptId",
                "update",
                "span",
                "spans",
                "query",
                "options",
                "limit",
                "resources",
                "resourcesId",
                "workerId",
                "now",
                "waitMs",
                "rolloutIds",
              ),
              fc.jsonValue(),
            )
            .map((v) => JSON.stringify(v)),
          fc.string(),
        ),
        async (url, payload) => {
          const res = await app.inject({ method: "POST", url, headers: json, payload });
          assert.ok(res.statusCode < 500, `${url} ${payload.slice(0, 80)} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
          if (res.statusCode >= 400) {
            const body = res.json() as { error: { name: string; message: string } };
            assert.ok(body.error.message.length > 3);
          }
        },
      ),
      { numRuns: 300 },
    );
    // The rollout handed out before the fuzzing is still there and the server answers.
    assert.ok(await store.getRolloutById(r.rolloutId));
    const wrongType = await app.inject({
      method: "POST",
      url: `${API_PREFIX}/statistics`,
      headers: { "content-type": "application/xml" },
      payload: "<hi/>",
    });
    assert.equal(wrongType.statusCode, 415);
    const big = await app.inject({
      method: "POST",
      url: `${API_PREFIX}/spans/add-many`,
      headers: json,
      payload: JSON.stringify({ spans: "x".repeat(100_000) }),
    });
    assert.equal(big.statusCode, 413);
    const bomb = await app.inject({
      method: "POST",
      url: "/v1/traces",
      headers: { ...json, "content-encoding": "gzip" },
      payload: gzipSync(Buffer.from(`{"resourceSpans":[],"pad":"${" ".repeat(1_000_000)}"}`)),
    });
    assert.equal(bomb.statusCode, 413, bomb.body);
  } finally {
    await app.close();
  }
});

test("store errors keep their class across the wire: ValidationError 400, NotFoundError 404, InvalidTransitionError 409", {
  timeout: 10_000,
}, async () => {
  const store = await openStore();
  const app = buildStoreApp({ store, closeStore: true });
  try {
    const v = await app.inject({
      method: "POST",
      url: `${API_PREFIX}/rollouts/enqueue`,
      headers: json,
      payload: { request: { input: 1, mode: "bogus" } },
    });
    assert.equal(v.statusCode, 400);
    assert.equal(v.json().error.name, "ValidationError");
    const n = await app.inject({
      method: "POST",
      url: `${API_PREFIX}/attempts/query`,
      headers: json,
      payload: { rolloutId: "ro-missing" },
    });
    assert.equal(n.statusCode, 404);
    const r = await store.startRollout({ input: 1 });
    await store.updateAttempt(r.rolloutId, "latest", { status: "succeeded" });
    const t = await app.inject({
      method: "POST",
      url: `${API_PREFIX}/rollouts/update`,
      headers: json,
      payload: { rolloutId: r.rolloutId, update: { status: "running" } },
    });
    assert.equal(t.statusCode, 409);
    assert.equal(t.json().error.from, "succeeded");
  } finally {
    await app.close();
  }
});

test("dequeue long-polls: a waiting runner gets a rollout enqueued after it asked, without polling", { timeout: 10_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, closeStore: true });
  const runner = await connectStore(server.url, { dequeueWaitMs: 5000 });
  const trainer = await connectStore(server.url);
  try {
    const t0 = Date.now();
    const waiting = runner.dequeueRollout({ workerId: "w" });
    setTimeout(() => void trainer.enqueueRollout({ input: "late" }), 150);
    const got = await waiting;
    assert.equal(got?.input, "late");
    assert.ok(Date.now() - t0 >= 140 && Date.now() - t0 < 4000);
    // An empty queue answers null once the wait is over.
    const quick = await connectStore(server.url, { dequeueWaitMs: 100 });
    assert.equal(await quick.dequeueRollout(), null);
    await quick.close();
  } finally {
    await runner.close();
    await trainer.close();
    await server.close();
  }
});

test("closing the server ends long-polls at once instead of waiting them out", { timeout: 10_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, closeStore: true, maxWaitMs: 20_000 });
  const c = await connectStore(server.url, { retryForMs: 0 });
  const r = await c.startRollout({ input: 1 });
  const waiting = c.waitForRollouts([r.rolloutId], { timeoutMs: 15_000 }).catch((e: unknown) => e);
  await new Promise((res) => setTimeout(res, 100));
  const t0 = Date.now();
  await server.close();
  assert.ok(Date.now() - t0 < 3000, `close took ${Date.now() - t0} ms`);
  await waiting;
  await c.close();
});

test("the redaction hook rewrites spans before they are stored, on every ingest path", { timeout: 10_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({
    store,
    port: 0,
    closeStore: true,
    redact: (s) => ({
      ...s,
      attributes: Object.fromEntries(Object.entries(s.attributes).map(([k, v]) => [k, k.startsWith("gen_ai.input") ? "[redacted]" : v])),
    }),
  });
  const c = await connectStore(server.url);
  try {
    const r = await c.startRollout({ input: 1 });
    const aid = r.attempt.attemptId;
    await c.addSpan(makeSpan(r.rolloutId, aid, { attributes: { "gen_ai.input.messages": "my card is 4111", keep: 1 } }));
    await c.addSpans([makeSpan(r.rolloutId, aid, { attributes: { "gen_ai.input.messages": "secret" } })]);
    const otlp = await fetch(`${server.url}/v1/traces`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [
                { key: "agentlightning.rollout_id", value: { stringValue: r.rolloutId } },
                { key: "agentlightning.attempt_id", value: { stringValue: aid } },
              ],
            },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: "ab".repeat(16),
                    spanId: "cd".repeat(8),
                    name: "llm",
                    startTimeUnixNano: "1700000000000000000",
                    endTimeUnixNano: "1700000001000000000",
                    attributes: [{ key: "gen_ai.input.messages", value: { stringValue: "ssn 123" } }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(otlp.status, 200);
    const spans = await c.querySpans({ rolloutId: r.rolloutId });
    assert.equal(spans.length, 3);
    for (const s of spans) assert.equal(s.attributes["gen_ai.input.messages"], "[redacted]");
    assert.equal(spans[0].attributes.keep, 1);
  } finally {
    await c.close();
    await server.close();
  }
});

test("a call the store does not answer in time gets 503 (per-request timeout) while other calls go on", { timeout: 10_000 }, async () => {
  const store = await openStore();
  let hang = true;
  const slow = Object.assign(Object.create(store) as typeof store, {
    statistics: async () => {
      if (hang) await new Promise((r) => setTimeout(r, 1500));
      return store.statistics();
    },
  });
  const server = await startStoreServer({ store: slow, port: 0, handlerTimeoutMs: 200 });
  const c = await connectStore(server.url, { retryForMs: 300 });
  try {
    const t0 = Date.now();
    const stuck = c.statistics().catch((e: unknown) => e);
    // A second client is served meanwhile.
    assert.equal((await c.enqueueRollout({ input: 1 })).status, "queuing");
    const e = await stuck;
    assert.ok(e instanceof RemoteStoreError, String(e));
    assert.match((e as Error).message, /did not answer/);
    assert.ok(Date.now() - t0 < 3000);
    hang = false;
    assert.equal((await c.statistics()).rollouts, 1);
  } finally {
    await c.close();
    await server.close();
    await store.close();
  }
});

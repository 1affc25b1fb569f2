// A remote rollout is bound by round trips: a runner claims (dequeue + start +
// resources) and completes (its spans + final update + reads) in two
// requests, with the same outcome as the calls made one by one.
import { test } from "node:test";
import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { openStore } from "../src/store/index.js";
import { connectStore } from "../src/store/remote-store.js";
import { startStoreServer } from "../src/server/index.js";
import { Runner } from "../src/runner/runner.js";
import { ValidationError } from "../src/types/index.js";
import agent from "./fixtures/runner/agent.js";
import { rollout } from "../src/runner/agent.js";
import { makeSpan } from "./store-suite.js";

async function served() {
  const backing = await openStore();
  const server = await startStoreServer({ store: backing, port: 0, closeStore: true });
  const client = await connectStore(server.url);
  const paths: string[] = [];
  server.app.server.on("request", (req: IncomingMessage) => paths.push((req.url ?? "").replace("/v1/agl", "")));
  return { backing, server, client, paths, close: async () => (await client.close(), await server.close()) };
}

test("a remote rollout takes two requests: claim, then complete carrying its spans; and ends as it would in process", {
  timeout: 20_000,
}, async () => {
  const s = await served();
  try {
    await s.backing.addResources({ llm: { resourceType: "llm", endpoint: "http://x/v1", model: "m" } } as never);
    const rollouts = await s.backing.enqueueManyRollouts([{ input: { a: 1, b: 2 } }, { input: { a: 2, b: 2 } }, { input: { a: 0, b: 3 } }]);
    const runner = new Runner({ store: s.client, agent, workerId: "w1", heartbeatMs: 60_000 });
    const outcomes: (number | null)[] = [];
    runner.hooks.onRolloutEnd = (_r, o) => void outcomes.push(o.reward);
    s.paths.length = 0;
    assert.equal(await runner.iterate({ maxRollouts: 3 }), 3);
    // The last request is the runner saying it is idle as it stops.
    assert.deepEqual(s.paths, [...Array(3).fill(["/runner/claim", "/runner/complete"]).flat(), "/workers/update"]);
    assert.deepEqual(outcomes, [1, 0, 1]);
    for (const r of rollouts) {
      assert.equal((await s.backing.getRolloutById(r.rolloutId))?.status, "succeeded");
      const [a] = await s.backing.queryAttempts(r.rolloutId);
      assert.equal(a.workerId, "w1");
      const spans = await s.backing.querySpans({ rolloutId: r.rolloutId, attemptId: a.attemptId });
      assert.equal(spans.length, 2, "message and reward spans are both stored");
    }
    const [w] = await s.backing.queryWorkers();
    assert.equal(w.status, "idle");
    assert.equal(w.currentAttemptId, null);
  } finally {
    await s.close();
  }
});

test("claim without a worker id is a 400; complete after the store ended the attempt answers attempt null", {
  timeout: 20_000,
}, async () => {
  const s = await served();
  try {
    const res = await fetch(`${s.server.url}/v1/agl/runner/claim`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(await res.json()), /workerId/);
    assert.equal(await s.client.claimRollout({ workerId: "w" }), null, "nothing queued");

    await s.backing.enqueueRollout({ input: 1 });
    const c = await s.client.claimRollout({ workerId: "w" });
    assert.ok(c);
    assert.equal(c.startError, null);
    assert.equal((await s.backing.getLatestAttempt(c.rollout.rolloutId))?.status, "running");
    await s.backing.updateAttempt(c.rollout.rolloutId, c.rollout.attempt.attemptId, { status: "timeout" });
    const done = await s.client.completeAttempt(c.rollout.rolloutId, c.rollout.attempt.attemptId, { status: "succeeded" });
    assert.equal(done.attempt, null);
    assert.notEqual(done.rollout?.status, "succeeded");
    // A malformed update is the caller's mistake, not a transition the store made.
    await assert.rejects(
      s.client.completeAttempt(c.rollout.rolloutId, c.rollout.attempt.attemptId, { status: "nope" } as never),
      ValidationError,
    );
  } finally {
    await s.close();
  }
});

test("spans added together go out as one request; a malformed one fails alone and the rest are stored", { timeout: 20_000 }, async () => {
  const s = await served();
  try {
    const r = await s.backing.startRollout({ input: 1 });
    const span = (i: number) => ({
      rolloutId: r.rolloutId,
      attemptId: r.attempt.attemptId,
      traceId: "ab".repeat(16),
      spanId: i.toString(16).padStart(16, "0"),
      parentId: null,
      name: `s${i}`,
      status: { statusCode: "OK" },
      attributes: {},
      events: [],
      links: [],
      startTime: 1,
      endTime: 2,
      resource: { attributes: {}, schemaUrl: "" },
    });
    s.paths.length = 0;
    const good = await Promise.all([1, 2, 3].map((i) => s.client.addSpan(span(i) as never)));
    assert.deepEqual(s.paths, ["/spans/add-many"]);
    assert.deepEqual(
      good.map((g) => g.name),
      ["s1", "s2", "s3"],
    );
    const mixed = await Promise.allSettled([
      s.client.addSpan(span(4) as never),
      s.client.addSpan({ ...span(5), startTime: "soon" } as never),
    ]);
    assert.equal(mixed[0].status, "fulfilled");
    assert.equal(mixed[1].status, "rejected");
    assert.ok((mixed[1] as PromiseRejectedResult).reason instanceof ValidationError);
    const stored = await s.backing.querySpans({ rolloutId: r.rolloutId });
    assert.deepEqual(
      stored.map((x) => x.name),
      ["s1", "s2", "s3", "s4"],
    );
  } finally {
    await s.close();
  }
});

test("a runner against a server without the runner endpoints (older version) falls back to plain calls", { timeout: 20_000 }, async () => {
  const s = await served();
  // An older server: answers the runner endpoints as unknown, forwards everything else.
  const older = http.createServer((req, res) => {
    if (req.url?.startsWith("/v1/agl/runner/")) {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ error: { name: "NoSuchEndpoint", message: `no endpoint POST ${req.url}` } }));
      return;
    }
    const up = http.request(`${s.server.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => older.listen(0, "127.0.0.1", resolve));
  const client = await connectStore(`http://127.0.0.1:${(older.address() as AddressInfo).port}`);
  try {
    const [r] = await s.backing.enqueueManyRollouts([{ input: { a: 1, b: 2 } }]);
    const runner = new Runner({ store: client, agent, workerId: "old", heartbeatMs: 60_000 });
    s.paths.length = 0;
    assert.equal(await runner.iterate({ maxRollouts: 1 }), 1);
    assert.equal((await s.backing.getRolloutById(r.rolloutId))?.status, "succeeded");
    assert.ok(s.paths.includes("/rollouts/dequeue") && s.paths.includes("/attempts/update"), s.paths.join(" "));
  } finally {
    await client.close();
    older.closeAllConnections();
    await new Promise((resolve) => older.close(resolve));
    await s.close();
  }
});

test("a span refused on its way in with complete fails the attempt with that error; the attempt's other spans are stored", {
  timeout: 20_000,
}, async () => {
  const s = await served();
  try {
    const [r] = await s.backing.enqueueManyRollouts([{ input: 1 }]);
    const sloppy = rollout(async (_task, ctx) => {
      // Not awaited: the spans are still queued when the runner completes, so they ride along.
      void ctx.store.addSpan({ ...base(ctx), spanId: "0000000000000001", name: "fine" }).catch(() => {});
      void ctx.store.addSpan({ ...base(ctx), spanId: "not hex", name: "broken" }).catch(() => {});
      return 1;
    });
    const runner = new Runner({ store: s.client, agent: sloppy, workerId: "w1", heartbeatMs: 60_000, onError: () => {} });
    let outcome: { error: unknown } | null = null;
    runner.hooks.onRolloutEnd = (_r, o) => void (outcome = o);
    s.paths.length = 0;
    assert.equal(await runner.iterate({ maxRollouts: 1 }), 1);
    assert.deepEqual(s.paths, ["/runner/claim", "/runner/complete", "/workers/update"]);
    const [a] = await s.backing.queryAttempts(r.rolloutId);
    assert.equal(a.status, "failed");
    assert.match(String(a.metadata.error), /ValidationError.*spanId/s);
    assert.match(String(outcome!.error), /ValidationError.*spanId/s, "the runner's outcome names the span error");
    const names = (await s.backing.querySpans({ rolloutId: r.rolloutId })).map((x) => x.name);
    assert.ok(names.includes("fine") && !names.includes("broken"), names.join(","));
  } finally {
    await s.close();
  }
});

test("complete with spans retried after a lost answer stores no span twice and leaves the attempt as the first answer did", {
  timeout: 20_000,
}, async () => {
  const s = await served();
  try {
    await s.backing.enqueueRollout({ input: 1 });
    const c = (await s.client.claimRollout({ workerId: "w" }))!;
    const { rolloutId, attemptId } = c.rollout.attempt;
    const body = JSON.stringify({
      rolloutId,
      attemptId,
      update: { status: "succeeded" },
      spans: [{ ...base({ rollout: { rolloutId }, attempt: { attemptId } }), spanId: "00000000000000aa", name: "once" }],
    });
    const post = (retry: string, key: string) =>
      fetch(`${s.server.url}/v1/agl/runner/complete`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-agl-retry": retry, "idempotency-key": key },
        body,
      }).then((x) => x.json() as Promise<{ result: { attempt: unknown; spanResults: unknown[] } }>);
    const first = await post("0", "k1");
    assert.ok(first.result.attempt);
    assert.deepEqual(first.result.spanResults, [{ sequenceId: 0 }]);
    // A new key: as after a server restart, which forgets keys. The retry flag makes the server look for its spans.
    const before = await s.backing.getLatestAttempt(rolloutId);
    const again = await post("1", "k2");
    assert.deepEqual(again.result.spanResults, [{ sequenceId: 0 }], "the stored span is found, not stored again");
    assert.deepEqual(await s.backing.getLatestAttempt(rolloutId), before, "the same final update changes nothing the second time");
    assert.equal((await s.backing.querySpans({ rolloutId })).length, 1);
    assert.equal((await s.backing.getRolloutById(rolloutId))?.status, "succeeded");
    const bad = await fetch(`${s.server.url}/v1/agl/runner/complete`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        rolloutId,
        attemptId,
        update: { status: "nope" },
        spans: [{ ...base({ rollout: { rolloutId }, attempt: { attemptId } }), spanId: "00000000000000bb", name: "never" }],
      }),
    });
    assert.equal(bad.status, 400, "a malformed update is refused before its spans are stored");
    assert.equal((await s.backing.querySpans({ rolloutId })).length, 1);
  } finally {
    await s.close();
  }
});

function base(ctx: { rollout: { rolloutId: string }; attempt: { attemptId: string } }) {
  return {
    rolloutId: ctx.rollout.rolloutId,
    attemptId: ctx.attempt.attemptId,
    traceId: "ab".repeat(16),
    parentId: null,
    status: { statusCode: "OK" as const },
    attributes: {},
    events: [],
    links: [],
    startTime: 1,
    endTime: 2,
    resource: { attributes: {}, schemaUrl: "" },
  };
}

test("a remote runner's heartbeat is one request that also tells it the store ended its attempt", { timeout: 20_000 }, async () => {
  const s = await served();
  try {
    const r = await s.backing.enqueueRollout({ input: 1 });
    let aborted: unknown = null;
    const waiting = rollout(async (_task, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      aborted = ctx.signal.reason;
    });
    const runner = new Runner({ store: s.client, agent: waiting, workerId: "w1", heartbeatMs: 40, onError: () => {} });
    s.paths.length = 0;
    const run = runner.iterate({ maxRollouts: 1 });
    while (!s.paths.filter((p) => p === "/heartbeat").length) await new Promise((x) => setTimeout(x, 20));
    const a = (await s.backing.getLatestAttempt(r.rolloutId))!;
    await s.backing.updateAttempt(r.rolloutId, a.attemptId, { status: "timeout" });
    assert.equal(await run, 1);
    assert.match(String(aborted), /ended by the store \(timeout\)/);
    assert.ok(!s.paths.includes("/attempts/latest"), s.paths.join(" "));
    assert.ok((await s.backing.queryWorkers())[0].lastHeartbeatTime !== null, "the worker's heartbeat is recorded");
  } finally {
    await s.close();
  }
});

test("complete answers the attempt's reward, not its spans; a client that does not ask for the reward alone gets the spans as before", {
  timeout: 20_000,
}, async () => {
  const s = await served();
  try {
    const complete = async (rolloutId: string, attemptId: string, extra: Record<string, unknown>) => {
      const res = await fetch(`${s.server.url}/v1/agl/runner/complete`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ rolloutId, attemptId, update: { status: "succeeded" }, ...extra }),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { result: { reward: number | null; spans?: { name: string }[] } }).result;
    };
    const reward = { name: "agentlightning.reward", attributes: { "agentlightning.reward.0.value": 0.5 } };
    const a = await s.backing.startRollout({ input: 1 });
    await s.backing.addSpan({ ...makeSpan(a.rolloutId, a.attempt.attemptId), ...reward });
    const lean = await complete(a.rolloutId, a.attempt.attemptId, { answer: "reward" });
    assert.equal(lean.reward, 0.5);
    assert.equal(lean.spans, undefined);
    const b = await s.backing.startRollout({ input: 1 });
    await s.backing.addSpan({ ...makeSpan(b.rolloutId, b.attempt.attemptId), ...reward });
    const old = await complete(b.rolloutId, b.attempt.attemptId, {});
    assert.equal(old.reward, 0.5);
    assert.deepEqual(
      old.spans?.map((x) => x.name),
      ["agentlightning.reward"],
    );
  } finally {
    await s.close();
  }
});

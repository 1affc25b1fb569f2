// The LightningStore contract, run against every store kind by the
// store-memory and store-durable test files.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { finalReward } from "../src/adapter/rewards.js";
import { InvalidTransitionError, NotFoundError, ValidationError, StoreClosedError, type Span } from "../src/types/index.js";
import type { LightningStore } from "../src/store/index.js";
import type { StoreOptions } from "../src/store/index.js";

export type OpenFn = (opts?: StoreOptions) => Promise<LightningStore>;

let spanCounter = 0;
export function makeSpan(
  rolloutId: string,
  attemptId: string,
  extra: Partial<Span> = {},
): Omit<Span, "sequenceId"> & { sequenceId?: number } {
  spanCounter++;
  return {
    rolloutId,
    attemptId,
    traceId: "ab".repeat(16),
    spanId: spanCounter.toString(16).padStart(16, "0"),
    parentId: null,
    name: "work",
    status: { statusCode: "OK" },
    attributes: { k: 1 },
    events: [],
    links: [],
    startTime: 1000,
    endTime: 1001,
    resource: { attributes: {}, schemaUrl: "" },
    ...extra,
  };
}

/** Deep snapshot of everything observable, to prove a failed call changed nothing. */
async function observe(s: LightningStore) {
  const rollouts = await s.queryRollouts();
  const attempts = await Promise.all(rollouts.map((r) => s.queryAttempts(r.rolloutId)));
  return {
    rollouts,
    attempts,
    spans: await s.querySpans(),
    resources: await s.queryResources(),
    workers: await s.queryWorkers(),
    stats: await s.statistics(),
  };
}

export function storeContract(kind: string, open: OpenFn): void {
  const withStore = (name: string, fn: (s: LightningStore) => Promise<void>, opts?: StoreOptions) =>
    test(`${kind}: ${name}`, async () => {
      const s = await open(opts);
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore("enqueue then dequeue hands rollouts out oldest first with a fresh preparing attempt", async (s) => {
    const a = await s.enqueueRollout({ input: { q: 1 }, mode: "train" });
    const b = await s.enqueueRollout({ input: { q: 2 }, rolloutId: "ro-mine" });
    assert.equal(a.status, "queuing");
    assert.equal(b.rolloutId, "ro-mine");
    assert.deepEqual(a.config, s.defaults);
    const d1 = await s.dequeueRollout({ workerId: "w1" });
    assert.equal(d1?.rolloutId, a.rolloutId);
    assert.equal(d1?.status, "preparing");
    assert.equal(d1?.attempt.status, "preparing");
    assert.equal(d1?.attempt.sequenceId, 1);
    assert.equal(d1?.attempt.workerId, "w1");
    const d2 = await s.dequeueRollout();
    assert.equal(d2?.rolloutId, "ro-mine");
    assert.equal(await s.dequeueRollout(), null);
    const workers = await s.queryWorkers();
    assert.equal(workers.length, 1);
    assert.equal(workers[0].status, "busy");
    assert.equal(workers[0].currentRolloutId, a.rolloutId);
  });

  withStore("enqueueManyRollouts and dequeueManyRollouts move batches", async (s) => {
    const rs = await s.enqueueManyRollouts([{ input: 1 }, { input: 2 }, { input: 3 }]);
    assert.equal(rs.length, 3);
    const got = await s.dequeueManyRollouts(2);
    assert.deepEqual(
      got.map((g) => g.input),
      [1, 2],
    );
    assert.equal((await s.dequeueManyRollouts(5)).length, 1);
  });

  withStore("a span moves the attempt and rollout to running; success finishes both", async (s) => {
    const r = await s.startRollout({ input: "x" });
    assert.equal(r.status, "preparing");
    const sp = await s.addSpan(makeSpan(r.rolloutId, r.attempt.attemptId));
    assert.equal(sp.sequenceId, 0);
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "running");
    assert.equal((await s.getLatestAttempt(r.rolloutId))?.status, "running");
    const a = await s.updateAttempt(r.rolloutId, "latest", { status: "succeeded" });
    assert.equal(a.status, "succeeded");
    assert.ok(a.endTime !== null);
    const ro = await s.getRolloutById(r.rolloutId);
    assert.equal(ro?.status, "succeeded");
    assert.ok(ro?.endTime !== null);
  });

  withStore("an explicit running update moves the rollout to running", async (s) => {
    const r = await s.startRollout({ input: 1 });
    await s.updateAttempt(r.rolloutId, r.attempt.attemptId, { status: "running" });
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "running");
  });

  withStore("a failed attempt requeues while attempts remain, then fails the rollout", async (s) => {
    const r = await s.enqueueRollout({ input: 1, config: { maxAttempts: 2 } });
    const d1 = (await s.dequeueRollout())!;
    await s.updateAttempt(r.rolloutId, d1.attempt.attemptId, { status: "failed" });
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "requeuing");
    const d2 = (await s.dequeueRollout())!;
    assert.equal(d2.rolloutId, r.rolloutId);
    assert.equal(d2.attempt.sequenceId, 2);
    await s.updateAttempt(r.rolloutId, "latest", { status: "failed" });
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "failed");
    assert.equal(await s.dequeueRollout(), null);
    assert.equal((await s.queryAttempts(r.rolloutId)).length, 2);
  });

  withStore("a status outside retryConditions fails the rollout at once", async (s) => {
    const r = await s.enqueueRollout({ input: 1, config: { maxAttempts: 3, retryConditions: ["timeout"] } });
    await s.dequeueRollout();
    await s.updateAttempt(r.rolloutId, "latest", { status: "failed" });
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "failed");
  });

  withStore(
    "store defaults apply to rollouts that leave config out",
    async (s) => {
      assert.equal(s.defaults.maxAttempts, 2);
      const r = await s.enqueueRollout({ input: 1 });
      assert.equal(r.config.maxAttempts, 2);
      const r2 = await s.enqueueRollout({ input: 1, config: { maxAttempts: 5 } });
      assert.equal(r2.config.maxAttempts, 5);
      assert.equal(r2.config.timeoutSeconds, 30);
    },
    { defaults: { maxAttempts: 2, timeoutSeconds: 30 } },
  );

  withStore("invalid transitions throw InvalidTransitionError naming rollout and states, store unchanged", async (s) => {
    const r = await s.startRollout({ input: 1 });
    await s.updateAttempt(r.rolloutId, "latest", { status: "succeeded" });
    const before = await observe(s);
    await assert.rejects(
      s.updateRollout(r.rolloutId, { status: "running", metadata: { x: 1 } }),
      (e: unknown) => e instanceof InvalidTransitionError && e.id === r.rolloutId && e.from === "succeeded" && e.to === "running",
    );
    await assert.rejects(s.updateAttempt(r.rolloutId, "latest", { status: "running" }), InvalidTransitionError);
    await assert.rejects(s.startAttempt(r.rolloutId), InvalidTransitionError);
    assert.deepEqual(await observe(s), before);
  });

  withStore("cancelling a queued rollout stops it being dequeued", async (s) => {
    const a = await s.enqueueRollout({ input: 1 });
    const b = await s.enqueueRollout({ input: 2 });
    const c = await s.updateRollout(a.rolloutId, { status: "cancelled" });
    assert.equal(c.status, "cancelled");
    assert.equal((await s.dequeueRollout())?.rolloutId, b.rolloutId);
    assert.equal(await s.dequeueRollout(), null);
  });

  withStore("startAttempt retries a requeuing rollout by hand", async (s) => {
    const r = await s.enqueueRollout({ input: 1, config: { maxAttempts: 3 } });
    await s.dequeueRollout();
    await s.updateAttempt(r.rolloutId, "latest", { status: "failed" });
    const a = await s.startAttempt(r.rolloutId, { workerId: "w" });
    assert.equal(a.attempt.sequenceId, 2);
    assert.equal(a.status, "preparing");
    // It was taken off the queue by the manual start.
    assert.equal(await s.dequeueRollout(), null);
  });

  withStore("updateRollout changes fields and merges config", async (s) => {
    const r = await s.enqueueRollout({ input: 1 });
    const u = await s.updateRollout(r.rolloutId, {
      input: { a: 2 },
      mode: "val",
      resourcesId: "rs-1",
      config: { maxAttempts: 4 },
      metadata: { tag: "t" },
    });
    assert.deepEqual(u.input, { a: 2 });
    assert.equal(u.mode, "val");
    assert.equal(u.resourcesId, "rs-1");
    assert.equal(u.config.maxAttempts, 4);
    assert.deepEqual(u.metadata, { tag: "t" });
    assert.deepEqual(
      (await s.queryRollouts({ mode: "val" })).map((x) => x.rolloutId),
      [r.rolloutId],
    );
    assert.deepEqual(await s.queryRollouts({ status: ["succeeded"] }), []);
    assert.equal((await s.queryRollouts({ ids: [r.rolloutId, "nope"] })).length, 1);
  });

  withStore("timeouts and unresponsive attempts are caught by checkDeadlines with a fake clock", async (s) => {
    const t = await s.enqueueRollout({ input: 1, config: { timeoutSeconds: 10, maxAttempts: 2 } });
    const u = await s.enqueueRollout({ input: 2, config: { unresponsiveSeconds: 5, maxAttempts: 1 } });
    const dt = (await s.dequeueRollout())!;
    const du = (await s.dequeueRollout())!;
    const t0 = dt.attempt.startTime;
    await s.checkDeadlines(t0 + 4000);
    assert.equal((await s.getLatestAttempt(t.rolloutId))?.status, "preparing");
    await s.checkDeadlines(t0 + 6000);
    assert.equal((await s.getLatestAttempt(u.rolloutId))?.status, "unresponsive");
    assert.equal((await s.getRolloutById(u.rolloutId))?.status, "failed");
    await s.checkDeadlines(t0 + 11000);
    assert.equal((await s.getLatestAttempt(t.rolloutId))?.status, "timeout");
    assert.equal((await s.getRolloutById(t.rolloutId))?.status, "requeuing");
    const again = (await s.dequeueRollout())!;
    assert.equal(again.rolloutId, t.rolloutId);
    assert.equal(again.attempt.sequenceId, 2);
    assert.equal(du.attempt.attemptId !== again.attempt.attemptId, true);
    await s.checkDeadlines(again.attempt.startTime + 20000);
    assert.equal((await s.getRolloutById(t.rolloutId))?.status, "failed");
  });

  withStore("a heartbeat revives an unresponsive attempt and its requeued rollout", async (s) => {
    const r = await s.enqueueRollout({ input: 1, config: { unresponsiveSeconds: 1, maxAttempts: 3 } });
    const d = (await s.dequeueRollout())!;
    await s.heartbeat(r.rolloutId, d.attempt.attemptId, "w9");
    await s.checkDeadlines(Date.now() + 5000);
    assert.equal((await s.getLatestAttempt(r.rolloutId))?.status, "unresponsive");
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "requeuing");
    await s.heartbeat(r.rolloutId, d.attempt.attemptId, "w9");
    assert.equal((await s.getLatestAttempt(r.rolloutId))?.status, "running");
    assert.equal((await s.getRolloutById(r.rolloutId))?.status, "running");
    assert.equal(await s.dequeueRollout(), null);
    assert.ok((await s.queryWorkers()).find((w) => w.workerId === "w9")?.lastHeartbeatTime);
  });

  withStore("waitForRollouts resolves on completion without polling and honours timeouts", async (s) => {
    const a = await s.startRollout({ input: 1 });
    const b = await s.startRollout({ input: 2 });
    const t0 = Date.now();
    const timedOut = await s.waitForRollouts([a.rolloutId, b.rolloutId], { timeoutMs: 50 });
    assert.deepEqual(timedOut, []);
    assert.ok(Date.now() - t0 >= 45);
    const waiting = s.waitForRollouts([a.rolloutId, b.rolloutId]);
    await s.updateAttempt(a.rolloutId, "latest", { status: "succeeded" });
    setTimeout(() => void s.updateAttempt(b.rolloutId, "latest", { status: "failed" }), 10);
    const done = await waiting;
    assert.deepEqual(done.map((r) => r.status).sort(), ["failed", "succeeded"]);
    const partial = await s.waitForRollouts([a.rolloutId, "ro-unknown"], { timeoutMs: 10 });
    assert.deepEqual(
      partial.map((r) => r.rolloutId),
      [a.rolloutId],
    );
  });

  withStore("spans get per-attempt sequence ids and querySpans filters and orders them", async (s) => {
    const r = await s.startRollout({ input: 1 });
    const aid = r.attempt.attemptId;
    const next = await s.getNextSpanSequenceId(r.rolloutId, aid);
    assert.equal(next, 0);
    const batch = await s.addSpans([
      makeSpan(r.rolloutId, aid, { name: "agentlightning.reward" }),
      makeSpan(r.rolloutId, aid, { name: "llm" }),
    ]);
    assert.deepEqual(
      batch.map((x) => x.sequenceId),
      [1, 2],
    );
    const explicit = await s.addSpan({ ...makeSpan(r.rolloutId, aid, { name: "agentlightning.message" }), sequenceId: 10 });
    assert.equal(explicit.sequenceId, 10);
    assert.equal((await s.addSpan(makeSpan(r.rolloutId, aid))).sequenceId, 11);
    assert.equal(await s.getNextSpanSequenceId(r.rolloutId, aid), 12);
    assert.deepEqual(
      (await s.querySpans({ rolloutId: r.rolloutId })).map((x) => x.sequenceId),
      [1, 2, 10, 11],
    );
    assert.deepEqual(
      (await s.querySpans({ namePrefix: "agentlightning." })).map((x) => x.name),
      ["agentlightning.reward", "agentlightning.message"],
    );
    assert.equal((await s.querySpans({ name: "llm" })).length, 1);
    assert.deepEqual(
      (await s.querySpans({ rolloutId: r.rolloutId, minSequenceId: 2, limit: 2 })).map((x) => x.sequenceId),
      [2, 10],
    );
    assert.equal((await s.querySpans({ attemptId: "latest", rolloutId: r.rolloutId })).length, 4);
    assert.equal((await s.querySpans({ rolloutId: "ro-none" })).length, 0);
  });

  withStore("querySpans orders by rollout id, attempt id, sequence id", async (s) => {
    const b = await s.startRollout({ input: 1, rolloutId: "ro-b" });
    const a = await s.startRollout({ input: 1, rolloutId: "ro-a" });
    await s.addSpan(makeSpan("ro-b", b.attempt.attemptId));
    await s.addSpan(makeSpan("ro-a", a.attempt.attemptId));
    await s.addSpan(makeSpan("ro-a", a.attempt.attemptId));
    const got = await s.querySpans();
    assert.deepEqual(
      got.map((x) => `${x.rolloutId}:${x.sequenceId}`),
      ["ro-a:0", "ro-a:1", "ro-b:0"],
    );
  });

  withStore("addOtelSpan takes an OpenTelemetry ReadableSpan shape", async (s) => {
    const r = await s.startRollout({ input: 1 });
    const sp = await s.addOtelSpan(r.rolloutId, r.attempt.attemptId, {
      name: "chat",
      spanContext: () => ({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 }),
      parentSpanContext: { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "00f067aa0ba902b7" },
      startTime: [1700000000, 500_000_000],
      endTime: [1700000001, 0],
      attributes: { "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 12, skip: undefined },
      events: [{ name: "e", time: [1700000000, 600_000_000], attributes: { a: "b" } }],
      links: [{ context: { traceId: "1".repeat(32), spanId: "2".repeat(16) }, attributes: {} }],
      status: { code: 2, message: "boom" },
      resource: { attributes: { "service.name": "agent" } },
    });
    assert.equal(sp.parentId, "00f067aa0ba902b7");
    assert.equal(sp.startTime, 1700000000500);
    assert.equal(sp.endTime, 1700000001000);
    assert.deepEqual(sp.status, { statusCode: "ERROR", description: "boom" });
    assert.equal(sp.attributes["gen_ai.usage.input_tokens"], 12);
    assert.equal("skip" in sp.attributes, false);
    assert.equal(sp.events[0].timestamp, 1700000000600);
    assert.equal(sp.links[0].spanId, "2".repeat(16));
    assert.equal(sp.resource.attributes["service.name"], "agent");
    await assert.rejects(
      s.addOtelSpan(r.rolloutId, r.attempt.attemptId, {
        name: "x",
        spanContext: () => ({ traceId: "zz", spanId: "b7ad6b7169203331" }),
        startTime: [1, 0],
        endTime: [1, 0],
      }),
      ValidationError,
    );
    await assert.rejects(s.addOtelSpan(r.rolloutId, r.attempt.attemptId, 42), ValidationError);
  });

  withStore("resources are versioned per id and the latest is tracked", async (s) => {
    const llm = { resourceType: "llm" as const, endpoint: "http://localhost:1/v1", model: "m" };
    const a = await s.addResources({ llm });
    assert.equal(a.version, 1);
    const b = await s.addResources({ prompt: { resourceType: "prompt_template", template: "hi {x}" } }, "rs-prompt");
    assert.equal((await s.getLatestResources())?.resourcesId, "rs-prompt");
    const a2 = await s.updateResources(a.resourcesId, { llm: { ...llm, model: "m2" } });
    assert.equal(a2.resourcesId, a.resourcesId);
    assert.equal(a2.version, 2);
    assert.equal((await s.getLatestResources())?.resourcesId, a.resourcesId);
    assert.equal(((await s.getResourcesById(a.resourcesId))!.resources.llm as { model: string }).model, "m2");
    assert.equal(await s.getResourcesById("rs-none"), null);
    assert.deepEqual(
      (await s.queryResources()).map((r) => `${r.resourcesId}@${r.version}`),
      [`${a.resourcesId}@1`, `${b.resourcesId}@1`, `${a.resourcesId}@2`],
    );
    const fresh = await s.updateResources("rs-new", { llm });
    assert.equal(fresh.version, 1);
    await assert.rejects(s.addResources({ llm }, "rs-prompt"), ValidationError);
  });

  withStore("workers are updated and released when their attempt ends", async (s) => {
    const w = await s.updateWorker("w1", { status: "idle", heartbeatStats: { gpu: 0.5 } });
    assert.equal(w.status, "idle");
    assert.ok(w.lastHeartbeatTime);
    const r = await s.startRollout({ input: 1 }, { workerId: "w1" });
    assert.equal((await s.queryWorkers())[0].status, "busy");
    await s.updateAttempt(r.rolloutId, "latest", { status: "succeeded" });
    const after = (await s.queryWorkers())[0];
    assert.equal(after.status, "idle");
    assert.equal(after.currentAttemptId, null);
  });

  withStore("returned objects are copies", async (s) => {
    const r = await s.startRollout({ input: { deep: [1] }, metadata: { m: 1 } });
    r.status = "failed";
    (r.input as { deep: number[] }).deep.push(2);
    r.attempt.status = "failed";
    const sp = await s.addSpan(makeSpan(r.rolloutId, r.attempt.attemptId, { attributes: { arr: [1, 2] } }));
    (sp.attributes.arr as number[]).push(3);
    sp.name = "changed";
    const q = await s.querySpans();
    q[0].attributes.x = "y";
    const again = await s.getRolloutById(r.rolloutId);
    assert.deepEqual(again?.input, { deep: [1] });
    assert.equal(again?.status, "running");
    const spans = await s.querySpans();
    assert.deepEqual(spans[0].attributes, { arr: [1, 2] });
    assert.equal(spans[0].name, "work");
  });

  withStore("bad input at every public function throws a clear error and changes nothing", async (s) => {
    const r = await s.startRollout({ input: 1, rolloutId: "ro-ok" });
    await s.addSpan(makeSpan("ro-ok", r.attempt.attemptId));
    const before = await observe(s);
    const bad: [string, () => Promise<unknown>, new (...a: never[]) => Error][] = [
      ["enqueueRollout mode", () => s.enqueueRollout({ input: 1, mode: "bogus" as "train" }), ValidationError],
      ["enqueueRollout dup id", () => s.enqueueRollout({ input: 1, rolloutId: "ro-ok" }), ValidationError],
      ["enqueueRollout config", () => s.enqueueRollout({ input: 1, config: { maxAttempts: 0 } }), ValidationError],
      ["enqueueMany not array", () => s.enqueueManyRollouts("x" as never), ValidationError],
      ["enqueueMany one bad", () => s.enqueueManyRollouts([{ input: 1 }, { input: 1, mode: 5 as never }]), ValidationError],
      ["startRollout", () => s.startRollout({ input: 1, metadata: 3 as never }), ValidationError],
      ["startRollout opts", () => s.startRollout({ input: 1 }, { workerId: 5 as never }), ValidationError],
      ["dequeueMany limit", () => s.dequeueManyRollouts(0), ValidationError],
      ["dequeue opts", () => s.dequeueRollout({ workerId: "" }), ValidationError],
      ["startAttempt missing", () => s.startAttempt("ro-missing"), NotFoundError],
      ["updateRollout unknown key", () => s.updateRollout("ro-ok", { bogus: 1 } as never), ValidationError],
      ["updateRollout missing", () => s.updateRollout("ro-missing", {}), NotFoundError],
      ["updateAttempt status", () => s.updateAttempt("ro-ok", "latest", { status: "nope" as never }), ValidationError],
      ["updateAttempt missing", () => s.updateAttempt("ro-ok", "at-missing", {}), NotFoundError],
      ["getRolloutById", () => s.getRolloutById(7 as never), ValidationError],
      ["getLatestAttempt", () => s.getLatestAttempt("" as never), ValidationError],
      ["queryRollouts", () => s.queryRollouts({ status: "nope" as never }), ValidationError],
      ["queryAttempts missing", () => s.queryAttempts("ro-missing"), NotFoundError],
      ["waitForRollouts", () => s.waitForRollouts("x" as never), ValidationError],
      ["waitForRollouts timeout", () => s.waitForRollouts([], { timeoutMs: -1 }), ValidationError],
      ["addSpan trace id", () => s.addSpan(makeSpan("ro-ok", r.attempt.attemptId, { traceId: "XYZ" })), ValidationError],
      [
        "addSpan attrs",
        () => s.addSpan(makeSpan("ro-ok", r.attempt.attemptId, { attributes: { o: { nested: 1 } } as never })),
        ValidationError,
      ],
      ["addSpan missing attempt", () => s.addSpan(makeSpan("ro-ok", "at-nope")), NotFoundError],
      ["addSpan missing rollout", () => s.addSpan(makeSpan("ro-nope", "at-nope")), NotFoundError],
      [
        "addSpans one bad",
        () => s.addSpans([makeSpan("ro-ok", r.attempt.attemptId), makeSpan("ro-ok", r.attempt.attemptId, { startTime: NaN })]),
        ValidationError,
      ],
      ["addSpans one missing", () => s.addSpans([makeSpan("ro-ok", r.attempt.attemptId), makeSpan("ro-ok", "at-x")]), NotFoundError],
      ["addOtelSpan", () => s.addOtelSpan("ro-ok", r.attempt.attemptId, null), ValidationError],
      ["querySpans", () => s.querySpans({ limit: -1 }), ValidationError],
      ["querySpans unknown", () => s.querySpans({ rollout: "x" } as never), ValidationError],
      ["getNextSpanSequenceId", () => s.getNextSpanSequenceId("ro-ok", "at-x"), NotFoundError],
      ["addResources", () => s.addResources({ x: { resourceType: "llm", endpoint: "not a url", model: "m" } }), ValidationError],
      ["updateResources", () => s.updateResources("", {}), ValidationError],
      ["getResourcesById", () => s.getResourcesById(null as never), ValidationError],
      ["updateWorker", () => s.updateWorker("w", { status: "sleepy" as never }), ValidationError],
      ["heartbeat", () => s.heartbeat("ro-ok", "at-missing"), NotFoundError],
      ["checkDeadlines", () => s.checkDeadlines("soon" as never), ValidationError],
    ];
    for (const [what, call, type] of bad) {
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof type, `${what}: expected ${type.name}, got ${String(e)}`);
        assert.ok((e as Error).message.length > 5, what);
        return true;
      });
    }
    assert.deepEqual(await observe(s), before);
  });

  test(`${kind}: 20 concurrent dequeuers over 200 rollouts never get the same rollout twice`, async () => {
    const s = await open();
    try {
      await s.enqueueManyRollouts(Array.from({ length: 200 }, (_, i) => ({ input: i })));
      const seen: string[] = [];
      await Promise.all(
        Array.from({ length: 20 }, async (_, w) => {
          for (;;) {
            const r = await s.dequeueRollout({ workerId: `w${w}` });
            if (!r) return;
            seen.push(r.rolloutId);
            await s.addSpan(makeSpan(r.rolloutId, r.attempt.attemptId));
            await s.updateAttempt(r.rolloutId, r.attempt.attemptId, { status: "succeeded" });
          }
        }),
      );
      assert.equal(seen.length, 200);
      assert.equal(new Set(seen).size, 200);
      assert.equal((await s.statistics()).rolloutsByStatus.succeeded, 200);
    } finally {
      await s.close();
    }
  });

  test(`${kind}: concurrent addSpan calls get strictly increasing, unique sequence ids`, async () => {
    const s = await open();
    try {
      const r = await s.startRollout({ input: 1 });
      const aid = r.attempt.attemptId;
      const made = await Promise.all([
        ...Array.from({ length: 100 }, () => s.addSpan(makeSpan(r.rolloutId, aid))),
        ...Array.from({ length: 10 }, () => s.addSpans([makeSpan(r.rolloutId, aid), makeSpan(r.rolloutId, aid)])),
        ...Array.from({ length: 10 }, async () => {
          const seq = await s.getNextSpanSequenceId(r.rolloutId, aid);
          return s.addSpan({ ...makeSpan(r.rolloutId, aid), sequenceId: seq });
        }),
      ]);
      const ids = made.flat().map((x) => x.sequenceId);
      assert.equal(ids.length, 130);
      assert.equal(new Set(ids).size, 130);
      const stored = (await s.querySpans({ rolloutId: r.rolloutId })).map((x) => x.sequenceId);
      for (let i = 1; i < stored.length; i++) assert.ok(stored[i] > stored[i - 1]);
    } finally {
      await s.close();
    }
  });

  test(`${kind}: attemptReward is what finalReward reads from the attempt's spans, whatever order and kind they come in`, async () => {
    const s = await open();
    try {
      const reward = (v: number) => ({ name: "agentlightning.reward", attributes: { "agentlightning.reward.0.value": v } });
      // A reward attribute on any span counts (OTLP agents put it on their own spans); explicit sequence ids may go back.
      const spanArb = fc.record({
        kind: fc.constantFrom("plain", "reward", "attr"),
        value: fc.double({ noNaN: true, noDefaultInfinity: true }),
        seq: fc.option(fc.nat(20), { nil: undefined }),
        batch: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(spanArb, { maxLength: 8 }), async (specs) => {
          const r = await s.startRollout({ input: 1 });
          const aid = r.attempt.attemptId;
          const spans = specs.map((x) => {
            const extra =
              x.kind === "reward"
                ? reward(x.value)
                : x.kind === "attr"
                  ? { attributes: { "agentlightning.reward.0.value": x.value, other: 1 } }
                  : {};
            return { ...makeSpan(r.rolloutId, aid, extra), ...(x.seq !== undefined ? { sequenceId: x.seq } : {}) };
          });
          const batched = specs.filter((x) => x.batch).length;
          if (batched) await s.addSpans(spans.slice(0, batched));
          for (const span of spans.slice(batched)) await s.addSpan(span);
          const expected = finalReward(await s.querySpans({ rolloutId: r.rolloutId, attemptId: aid }));
          assert.equal(await s.attemptReward!(r.rolloutId, aid), expected);
          assert.equal(await s.attemptReward!(r.rolloutId, "latest"), expected);
        }),
        { numRuns: 25 },
      );
      await assert.rejects(s.attemptReward!("ro-none", "at-none"), NotFoundError);
      await assert.rejects(s.attemptReward!(7 as never, "at-none"), ValidationError);
    } finally {
      await s.close();
    }
  });

  test(`${kind}: a closed store throws StoreClosedError`, async () => {
    const s = await open();
    await s.close();
    await assert.rejects(s.enqueueRollout({ input: 1 }), StoreClosedError);
    await assert.rejects(s.querySpans(), StoreClosedError);
  });
}

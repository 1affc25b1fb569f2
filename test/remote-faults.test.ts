// connectStore through a faulty network: lost answers, 503s, slow answers and
// a server restart. Retries are transparent and no write is applied twice.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, connectStore, RemoteStoreError, type LightningStore } from "../src/store/index.js";
import { serveStore, startStoreServer, type StoreServer } from "../src/server/index.js";
import { startFaultProxy } from "./helpers/fault-proxy.js";
import { makeSpan } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-remote-faults-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("a write whose answer is lost is applied exactly once (idempotency keys)", { timeout: 20_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, closeStore: true });
  const proxy = await startFaultProxy(server.url);
  const c = await connectStore(proxy.url);
  try {
    proxy.inject("/rollouts/enqueue", "lose-response");
    const r = await c.enqueueRollout({ input: "once" });
    proxy.inject("/rollouts/dequeue", "lose-response");
    const d = await c.dequeueRollout({ workerId: "w" });
    assert.equal(d?.rolloutId, r.rolloutId, "the retried dequeue returns the rollout the lost answer held");
    proxy.inject("/spans/add-many", "lose-response", "lose-response");
    const spans = await c.addSpans([makeSpan(r.rolloutId, d!.attempt.attemptId), makeSpan(r.rolloutId, d!.attempt.attemptId)]);
    assert.deepEqual(
      spans.map((s) => s.sequenceId),
      [0, 1],
    );
    const rs = await c.addResources({ p: { resourceType: "prompt_template", template: "a" } });
    proxy.inject("/resources/update", "lose-response");
    const v2 = await c.updateResources(rs.resourcesId, { p: { resourceType: "prompt_template", template: "b" } });
    assert.equal(v2.version, 2);
    proxy.inject("/rollouts/enqueue-many", "lose-response");
    await c.enqueueManyRollouts([{ input: 1 }, { input: 2 }]);

    assert.equal((await store.queryRollouts()).length, 3);
    assert.equal((await store.querySpans()).length, 2);
    assert.equal((await store.queryResources()).length, 2);
    assert.equal((await store.queryAttempts(r.rolloutId)).length, 1);
    assert.ok((proxy.seen.get("/v1/agl/spans/add-many") ?? 0) >= 3);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test("503s and slow answers are retried; a call that cannot get through fails with a clear error", { timeout: 20_000 }, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, closeStore: true });
  const proxy = await startFaultProxy(server.url);
  const c = await connectStore(proxy.url, { timeoutMs: 400 });
  const impatient = await connectStore(proxy.url, { retryForMs: 300 });
  try {
    proxy.inject("/statistics", "503", "503", "503");
    assert.equal((await c.statistics()).rollouts, 0);
    proxy.inject("/rollouts/enqueue", { delayMs: 1500 });
    const r = await c.enqueueRollout({ input: 1 });
    // The slow first try was applied too; its key made the retry return the same rollout.
    assert.equal((await store.queryRollouts()).length, 1);
    assert.equal((await store.getRolloutById(r.rolloutId))?.input, 1);
    proxy.inject("/statistics", ...Array.from({ length: 100 }, () => "503" as const));
    await assert.rejects(
      impatient.statistics(),
      (e: unknown) => e instanceof RemoteStoreError && /did not answer/.test(e.message) && /injected/.test(e.message),
    );
    const dead = await connectStore(server.url, { retryForMs: 200 });
    await server.close();
    await assert.rejects(dead.statistics(), (e: unknown) => e instanceof RemoteStoreError && /ECONNREFUSED/.test(e.message));
    await dead.close();
  } finally {
    await c.close();
    await impatient.close();
    await proxy.close();
    await server.close();
  }
});

async function restartOn(dir: string, port: number): Promise<StoreServer> {
  // The old server released the port and the directory lock; retry briefly in case the OS has not yet.
  for (let i = 0; ; i++) {
    try {
      return await serveStore(dir, { port });
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test("a durable store server restarted mid-run: clients ride through, nothing is lost or stored twice", { timeout: 30_000 }, async () => {
  const dir = join(root, "restart");
  let server: StoreServer = await serveStore(dir, { port: 0 });
  const port = server.port;
  const c: LightningStore = await connectStore(server.url, { retryForMs: 15_000 });
  try {
    const r = await c.startRollout({ input: "long" });
    const aid = r.attempt.attemptId;
    let written = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await c.addSpans([makeSpan(r.rolloutId, aid), makeSpan(r.rolloutId, aid)]);
        await c.heartbeat(r.rolloutId, aid, "w1");
        written += 2;
      }
    })();
    // Progress-based waits, not fixed sleeps: the machine may be slow.
    const until = async (n: number) => {
      for (let i = 0; written < n && i < 400; i++) await new Promise((res) => setTimeout(res, 25));
    };
    await until(6);
    await server.close();
    const atClose = written;
    await new Promise((res) => setTimeout(res, 300));
    server = await restartOn(dir, port);
    await until(atClose + 6);
    stop = true;
    await writer;
    assert.ok(written >= atClose + 6, `only ${written - atClose} spans written after the restart`);
    const spans = await c.querySpans({ rolloutId: r.rolloutId });
    assert.equal(spans.length, written);
    assert.equal(new Set(spans.map((s) => s.spanId)).size, written);
    await c.updateAttempt(r.rolloutId, aid, { status: "succeeded" });
    assert.equal((await c.getRolloutById(r.rolloutId))?.status, "succeeded");
  } finally {
    await c.close();
    await server.close();
  }
});

test("a batch whose answer was lost just before a restart is not stored twice (span ids), nor an enqueue (client ids)", {
  timeout: 30_000,
}, async () => {
  const dir = join(root, "lost-then-restart");
  let server: StoreServer = await serveStore(dir, { port: 0 });
  const proxy = await startFaultProxy(server.url);
  // The restarted server forgets idempotency keys: only ids chosen by the client can tell.
  proxy.onLost = async () => {
    await server.close();
    server = await restartOn(dir, 0);
    proxy.setTarget(server.url);
  };
  const c = await connectStore(proxy.url);
  try {
    const r = await c.startRollout({ input: 1 });
    proxy.inject("/spans/add-many", "lose-response");
    const batch = [
      makeSpan(r.rolloutId, r.attempt.attemptId),
      makeSpan(r.rolloutId, r.attempt.attemptId),
      makeSpan(r.rolloutId, r.attempt.attemptId),
    ];
    const stored = await c.addSpans(batch);
    assert.deepEqual(
      stored.map((s) => s.spanId),
      batch.map((s) => s.spanId),
    );
    assert.equal((await c.querySpans({ rolloutId: r.rolloutId })).length, 3);
    proxy.inject("/rollouts/enqueue", "lose-response");
    const e = await c.enqueueRollout({ input: "after restart" });
    assert.equal(e.input, "after restart");
    assert.equal((await c.queryRollouts()).length, 2);
    proxy.inject("/resources/add", "lose-response");
    const res = await c.addResources({ p: { resourceType: "prompt_template", template: "x" } });
    assert.equal((await c.queryResources()).filter((x) => x.resourcesId === res.resourcesId).length, 1);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

// Runner processes against a store server: `arclight runner` and the
// Trainer's runners: { processes: N }, with a real SIGKILL mid-rollout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as agl from "../src/index.js";
import { openStore, type LightningStore } from "../src/store/index.js";
import { startStoreServer } from "../src/server/index.js";

const cli = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const agentModule = fileURLToPath(new URL("./fixtures/runner/agent.ts", import.meta.url));
const TOKEN = "runner-test-token";

function startRunner(url: string, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", cli, "runner", "--store", url, "--agent", agentModule, "--heartbeat-ms", "100", ...extra],
    {
      env: { ...process.env, ARCLIGHT_TOKEN: TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("arclight runner ready")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`runner exited ${code}: ${err}`)));
  });
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function spanNames(store: LightningStore, rolloutId: string, attemptId: string) {
  return (await store.querySpans({ rolloutId, attemptId })).map((s) => s.name);
}

test("a runner process SIGKILLed mid-rollout: its attempt goes unresponsive, the rollout is retried elsewhere, finished work is intact", {
  timeout: 60_000,
}, async () => {
  const store = await openStore(undefined, { deadlineCheckIntervalMs: 100 });
  const server = await startStoreServer({ store, port: 0, token: TOKEN, closeStore: true });
  const children: ChildProcess[] = [];
  try {
    const config = { unresponsiveSeconds: 1, maxAttempts: 2 };
    const before = await store.enqueueManyRollouts([1, 2, 0].map((a) => ({ input: { a, b: 2 }, config })));
    const hang = await store.enqueueRollout({ input: { a: 1, b: 2, hang: true }, config });
    const a = await startRunner(server.url);
    children.push(a);
    const first = await until("the hanging attempt to run on runner A", async () => {
      const att = await store.getLatestAttempt(hang.rolloutId);
      return att?.status === "running" && att.workerId?.includes(`-${a.pid}-`) ? att : null;
    });
    // Work A finished before it died is complete: status and every span.
    for (const r of before) {
      const att = (await store.getLatestAttempt(r.rolloutId))!;
      assert.equal(att.status, "succeeded");
      assert.deepEqual(await spanNames(store, r.rolloutId, att.attemptId), ["agentlightning.message", "agentlightning.reward"]);
    }
    a.kill("SIGKILL");
    await exited(a);

    const b = await startRunner(server.url, ["--runners", "2"]);
    children.push(b);
    const after = await store.enqueueManyRollouts([3, 4].map((x) => ({ input: { a: x, b: 0 }, config })));
    const ids = [...before, hang, ...after].map((r) => r.rolloutId);
    const done = await store.waitForRollouts(ids, { timeoutMs: 20_000 });
    assert.equal(done.length, ids.length);
    assert.ok(
      done.every((r) => r.status === "succeeded"),
      JSON.stringify(done.map((r) => r.status)),
    );
    const attempts = await store.queryAttempts(hang.rolloutId);
    assert.deepEqual(
      attempts.map((x) => x.status),
      ["unresponsive", "succeeded"],
    );
    assert.equal(attempts[0].attemptId, first.attemptId);
    assert.ok(attempts[1].workerId?.includes(`-${b.pid}-`));
    assert.deepEqual(await spanNames(store, hang.rolloutId, attempts[1].attemptId), ["agentlightning.message", "agentlightning.reward"]);
    b.kill("SIGTERM");
    assert.equal(await exited(b), 0);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await server.close();
  }
});

test("Trainer with runners: { processes: 2 } runs every rollout in child processes and stops them", { timeout: 60_000 }, async () => {
  const agent = agl.rollout(async () => 0); // validated by fit; the processes load the module's agent
  const trainer = new agl.Trainer({ runners: { processes: 2, module: agentModule }, heartbeatMs: 100, log: () => {} });
  const tasks = [0, 1, 2, 3, 1, 5].map((a) => ({ a, b: 2 }));
  const res = await trainer.dev(agent, tasks);
  assert.equal(res.train.rollouts, 6);
  assert.equal(res.train.succeeded, 6);
  assert.equal(res.train.meanReward, 2 / 6);
  const workers = await res.store.queryWorkers();
  const pids = new Set(workers.map((w) => w.workerId.split("-").at(-2)));
  assert.equal(pids.size, 2, `workers: ${workers.map((w) => w.workerId)}`);
  for (const pid of pids) assert.throws(() => process.kill(Number(pid), 0), "runner process still alive after fit");
  assert.throws(() => new agl.Trainer({ runners: { processes: 0, module: agentModule } }), /processes/);
});

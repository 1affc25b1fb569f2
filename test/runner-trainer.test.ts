import { test } from "node:test";
import assert from "node:assert/strict";
import * as agl from "../src/index.js";
import { Runner } from "../src/runner/runner.js";

const quiet = { log: () => {} };

test("trainer.dev runs every task, records returned rewards and keeps the traces", async () => {
  const agent = agl.rollout(async (task: { a: number; b: number }) => {
    agl.emitMessage(`adding ${task.a}+${task.b}`);
    return task.a + task.b === 3 ? 1 : 0;
  });
  const trainer = new agl.Trainer({ nRunners: 2, ...quiet });
  const res = await trainer.dev(agent, [
    { a: 1, b: 2 },
    { a: 2, b: 2 },
    { a: 0, b: 3 },
  ]);
  assert.equal(res.train.rollouts, 3);
  assert.equal(res.train.succeeded, 3);
  assert.equal(res.train.meanReward, 2 / 3);
  for (const r of res.rollouts) {
    const spans = await res.store.querySpans({ rolloutId: r.rolloutId });
    assert.deepEqual(
      spans.map((s) => s.name),
      ["agentlightning.message", "agentlightning.reward"],
    );
    assert.equal(r.status, "succeeded");
  }
});

test("an agent that throws fails its attempt, is retried up to maxAttempts, and the runner keeps going", async () => {
  const seen = new Map<number, number>();
  const agent = agl.rollout(async (task: number) => {
    seen.set(task, (seen.get(task) ?? 0) + 1);
    if (task === 1) throw new Error("always broken");
    if (task === 2 && seen.get(2) === 1) throw new Error("flaky once");
    return 1;
  });
  const trainer = new agl.Trainer({ maxAttempts: 3, ...quiet });
  const res = await trainer.dev(agent, [1, 2, 3]);
  const store = res.store;
  const byInput = new Map(res.rollouts.map((r) => [r.input as number, r]));
  assert.equal(byInput.get(1)!.status, "failed");
  assert.equal(byInput.get(2)!.status, "succeeded");
  assert.equal(byInput.get(3)!.status, "succeeded");
  assert.equal(seen.get(1), 3);
  assert.equal(seen.get(2), 2);
  const attempts = await store.queryAttempts(byInput.get(1)!.rolloutId);
  assert.deepEqual(
    attempts.map((a) => a.status),
    ["failed", "failed", "failed"],
  );
  assert.match(String(attempts[0].metadata.error), /always broken/);
  const spans = await store.querySpans({ rolloutId: byInput.get(1)!.rolloutId, attemptId: "latest" });
  assert.equal(spans.at(-1)!.name, "agentlightning.exception");
});

test("many runners in one process run each rollout once and never mix spans", async () => {
  const runs = new Map<number, number>();
  const agent = agl.rollout(async (task: number, ctx) => {
    runs.set(task, (runs.get(task) ?? 0) + 1);
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, (task * 13 + k) % 4));
      agl.emitMessage(`${ctx.rollout.rolloutId}/${task}/${k}`);
    }
    return task % 2;
  });
  const trainer = new agl.Trainer({ nRunners: 8, ...quiet });
  const tasks = Array.from({ length: 60 }, (_, i) => i);
  const res = await trainer.dev(agent, tasks);
  assert.deepEqual(
    [...runs.values()],
    tasks.map(() => 1),
  );
  for (const r of res.rollouts) {
    const spans = await res.store.querySpans({ rolloutId: r.rolloutId });
    const msgs = spans.filter((s) => s.name === "agentlightning.message").map((s) => s.attributes["agentlightning.message.body"]);
    assert.deepEqual(
      msgs,
      [0, 1, 2].map((k) => `${r.rolloutId}/${r.input}/${k}`),
    );
  }
  const workers = await res.store.queryWorkers();
  assert.ok(workers.length >= 2, "work spread over several runners");
});

test("hooks run in order around each rollout and a throwing hook does not break the run", async () => {
  const events: string[] = [];
  const agent = agl.rollout(async () => {
    events.push("agent");
    return 1;
  });
  const trainer = new agl.Trainer({
    ...quiet,
    hooks: {
      onRolloutStart: () => void events.push("rolloutStart"),
      onTraceStart: () => {
        events.push("traceStart");
        throw new Error("hook bug");
      },
      onTraceEnd: () => void events.push("traceEnd"),
      onRolloutEnd: (_r, o) => void events.push(`rolloutEnd:${o.reward}`),
    },
  });
  const origWarn = console.warn;
  console.warn = () => {};
  try {
    const res = await trainer.dev(agent, ["t"]);
    assert.equal(res.train.succeeded, 1);
  } finally {
    console.warn = origWarn;
  }
  assert.deepEqual(events, ["rolloutStart", "traceStart", "agent", "traceEnd", "rolloutEnd:1"]);
});

test("the agent sees its resources and an attempt past its timeout is stopped and retried", async () => {
  const store = await agl.openStore();
  await store.addResources({ llm: { resourceType: "llm", endpoint: "http://127.0.0.1:1/v1", model: "tiny", samplingParameters: {} } });
  let calls = 0;
  let sawAbort = false;
  const agent = agl.rollout(async (_task: unknown, ctx) => {
    calls++;
    assert.equal(ctx.llm?.model, "tiny");
    if (calls === 1) {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => ((sawAbort = true), resolve())));
      return 0;
    }
    return 1;
  });
  const deadlines = setInterval(() => void store.checkDeadlines(), 20);
  try {
    const trainer = new agl.Trainer({ store, maxAttempts: 2, timeoutSeconds: 0.2, heartbeatMs: 20, ...quiet });
    const res = await trainer.dev(agent, ["slow"]);
    assert.equal(res.rollouts[0].status, "succeeded");
  } finally {
    clearInterval(deadlines);
  }
  assert.ok(sawAbort, "the timed-out agent was told to stop");
  const attempts = await store.queryAttempts((await store.queryRollouts())[0].rolloutId);
  assert.deepEqual(
    attempts.map((a) => a.status),
    ["timeout", "succeeded"],
  );
});

test("stopping a runner stops its running agent: the agent's signal aborts (even when asked for late) and the attempt fails", {
  timeout: 10_000,
}, async () => {
  const store = await agl.openStore();
  const stop = new AbortController();
  let reason: unknown = null;
  const agent = agl.rollout(async (_task: unknown, ctx) => {
    stop.abort();
    // Asked for after the stop: the signal the agent gets is already aborted.
    reason = ctx.signal.aborted ? ctx.signal.reason : null;
    await new Promise(() => {}); // never settles: only the stop ends this rollout
  });
  const [r] = await store.enqueueManyRollouts([{ input: 1 }]);
  const runner = new Runner({ store, agent, workerId: "w", onError: () => {} });
  const outcomes: (Error | null)[] = [];
  runner.hooks.onRolloutEnd = (_r, o) => void outcomes.push(o.error as Error | null);
  assert.equal(await runner.iterate({ signal: stop.signal }), 1);
  assert.match(String(reason), /runner stopped/);
  assert.match(String(outcomes[0]), /runner stopped/);
  assert.equal((await store.getLatestAttempt(r.rolloutId))?.status, "failed");
  await store.close();
});

test("trainer and rollout reject bad arguments clearly", async () => {
  assert.throws(() => new agl.Trainer({ nRunners: -1 }), /nRunners/);
  assert.throws(() => new agl.Trainer({ maxAttempts: -1 }), agl.types.ValidationError);
  assert.throws(() => agl.rollout("nope" as never), TypeError);
  const trainer = new agl.Trainer(quiet);
  await assert.rejects(trainer.fit({} as never, { train: [] }), /agl.rollout/);
  await assert.rejects(
    trainer.fit(
      agl.rollout(() => 1),
      { train: "abc" as never },
    ),
    /train must be an array/,
  );
});

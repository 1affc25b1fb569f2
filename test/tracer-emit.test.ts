import { test } from "node:test";
import assert from "node:assert/strict";
import * as agl from "../src/index.js";

async function scopeFor(store: agl.LightningStore) {
  const ar = await store.startRollout({ input: null });
  return new agl.tracer.TraceScope(store, ar.rolloutId, ar.attempt.attemptId, "tester");
}

test("emit helpers inside a rollout record Agent Lightning spans into that attempt", async () => {
  const store = await agl.openStore();
  const scope = await scopeFor(store);
  agl.tracer.withScope(scope, () => {
    agl.emitMessage("hello");
    agl.emitReward({ correct: 1, format: 0.5 }, { primary: "format" });
    agl.emitObject({ a: [1, 2] });
    agl.emitAnnotation({ step: 3, tags: ["x", "y"], nested: { k: 1 } });
    agl.emitException(new RangeError("bad range"));
  });
  await scope.flush();
  const spans = await store.querySpans({ rolloutId: scope.rolloutId });
  assert.deepEqual(
    spans.map((s) => s.name),
    ["agentlightning.message", "agentlightning.reward", "agentlightning.object", "agentlightning.annotation", "agentlightning.exception"],
  );
  assert.deepEqual(
    spans.map((s) => s.sequenceId),
    [...spans.map((s) => s.sequenceId)].sort((a, b) => a - b),
  );
  assert.equal(spans[0].attributes["agentlightning.message.body"], "hello");
  assert.equal(spans[1].attributes["agentlightning.reward.0.name"], "format");
  assert.equal(spans[1].attributes["agentlightning.reward.0.value"], 0.5);
  assert.equal(spans[1].attributes["agentlightning.reward.1.value"], 1);
  assert.equal(agl.adapter.finalReward(spans), 0.5);
  assert.equal(spans[2].attributes["agentlightning.object.json"], '{"a":[1,2]}');
  assert.equal(spans[3].attributes.nested, '{"k":1}');
  assert.deepEqual(spans[3].attributes.tags, ["x", "y"]);
  assert.equal(spans[4].status.statusCode, "ERROR");
  assert.equal(spans[4].events[0]?.name, "exception");
  assert.equal(spans[4].events[0]?.attributes["exception.type"], "RangeError");
  for (const s of spans) assert.equal(s.attributes["agentlightning.agent.name"], "tester");
});

test("concurrent rollouts never mix spans", async () => {
  const store = await agl.openStore();
  const scopes = await Promise.all(Array.from({ length: 30 }, () => scopeFor(store)));
  await Promise.all(
    scopes.map((scope, i) =>
      agl.tracer.withScope(scope, async () => {
        for (let k = 0; k < 10; k++) {
          await new Promise((r) => setTimeout(r, (i * 7 + k * 3) % 5));
          agl.emitMessage(`${scope.rolloutId}:${k}`);
        }
      }),
    ),
  );
  await Promise.all(scopes.map((s) => s.flush()));
  for (const scope of scopes) {
    const spans = await store.querySpans({ rolloutId: scope.rolloutId });
    assert.equal(spans.length, 10);
    assert.deepEqual(
      spans.map((s) => s.attributes["agentlightning.message.body"]),
      Array.from({ length: 10 }, (_, k) => `${scope.rolloutId}:${k}`),
    );
  }
});

test("operation records inputs, outputs and errors, and nests child spans under it", async () => {
  const store = await agl.openStore();
  const scope = await scopeFor(store);
  const add = agl.operation("add", async (a: number, b: number) => {
    agl.emitMessage("inside");
    return a + b;
  });
  const boom = agl.operation(function boom(_x: string): never {
    throw new Error("kaput");
  });
  await agl.tracer.withScope(scope, async () => {
    assert.equal(await add(2, 3), 5);
    assert.throws(() => boom("y"), /kaput/);
  });
  await scope.flush();
  const spans = await store.querySpans({ rolloutId: scope.rolloutId });
  const op = spans.find((s) => s.attributes["agentlightning.operation.name"] === "add")!;
  const inner = spans.find((s) => s.name === "agentlightning.message")!;
  assert.equal(op.attributes["agentlightning.operation.input"], "[2,3]");
  assert.equal(op.attributes["agentlightning.operation.output"], 5);
  assert.equal(inner.parentId, op.spanId);
  assert.equal(inner.traceId, op.traceId);
  const failed = spans.find((s) => s.attributes["agentlightning.operation.name"] === "boom")!;
  assert.equal(failed.status.statusCode, "ERROR");
  assert.equal(failed.attributes["agentlightning.operation.input"], "y");
});

test("outside a rollout the helpers write to the dev store instead of throwing", async () => {
  agl.emitReward(0.75);
  await agl.tracer.flushTraces();
  const dev = await agl.devStore();
  const spans = await dev.querySpans({ rolloutId: agl.tracer.DEV_ROLLOUT_ID });
  assert.ok(spans.some((s) => s.attributes["agentlightning.reward.0.value"] === 0.75));
});

test("emit helpers reject bad input with a clear error", () => {
  assert.throws(() => agl.emitReward(Number.NaN), /finite number/);
  assert.throws(() => agl.emitReward("1" as never), agl.types.ValidationError);
  assert.throws(() => agl.emitReward({}), /at least one dimension/);
  assert.throws(() => agl.emitReward({ a: 1 }, { primary: "b" }), /primary dimension "b"/);
  assert.throws(() => agl.emitMessage(42 as never), /expected a string/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => agl.emitObject(cyclic), /JSON-serialisable/);
  assert.throws(() => agl.operation("x", 3 as never), TypeError);
});

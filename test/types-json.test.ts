// "Parse JSON or fall back" and "stringify or String(v)" have one definition
// each (src/types/json.ts); the tracer, the store's OTel conversion, the
// adapter, the tokenizer's tool markup and the table view all answer with it.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseJsonText, toJsonText } from "../src/types/json.js";
import { toAttributeValue } from "../src/tracer/attributes.js";
import { otelToSpanDraft } from "../src/store/otel-span.js";
import { spansToTriplets } from "../src/adapter/triplets.js";
import { toolCallBlock } from "../src/tokenizer/tools.js";
import { GEN_AI, type Span } from "../src/types/index.js";

test("toJsonText: undefined is null, bigints are numbers, cycles and functions fall back to String(v)", () => {
  assert.equal(toJsonText(undefined), "null");
  assert.equal(toJsonText({ a: 1n, b: [2n] }), '{"a":1,"b":[2]}');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(toJsonText(cyclic), "[object Object]");
  const f = () => 1;
  assert.equal(toJsonText(f), String(f));
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true }), (v) => assert.equal(typeof toJsonText(v), "string")),
  );
});

test("tracer attributes and the store's OTel conversion write objects as toJsonText does, never throwing", () => {
  fc.assert(
    fc.property(fc.object({ withBigInt: true }), (v) => {
      assert.equal(toAttributeValue(v), toJsonText(v));
      const draft = otelToSpanDraft("ro-1", "at-1", {
        name: "s",
        spanContext: () => ({ traceId: `${"0".repeat(31)}1`, spanId: `${"0".repeat(15)}1` }),
        startTime: [1, 0],
        endTime: [2, 0],
        attributes: { obj: v, mixed: [1, "a", 2n] },
      });
      assert.equal(draft.attributes?.obj, toJsonText(v));
      assert.equal(draft.attributes?.mixed, '[1,"a",2]');
    }),
    { numRuns: 100 },
  );
});

test("the adapter and tool-call markup read JSON text with parseJsonText: JSON parsed, other text kept", () => {
  const span = (messages: unknown): Span =>
    ({
      rolloutId: "ro-1",
      attemptId: "at-1",
      sequenceId: 1,
      traceId: `${"0".repeat(31)}1`,
      spanId: `${"0".repeat(15)}1`,
      parentId: null,
      name: "chat",
      status: { code: "OK" },
      startTime: 1,
      endTime: 2,
      attributes: {
        [GEN_AI.operationName]: "chat",
        [GEN_AI.inputMessages]: messages as string,
        [GEN_AI.outputMessages]: '[{"role":"assistant","content":"4"}]',
      },
      events: [],
      links: [],
      resource: {},
    }) as unknown as Span;
  for (const m of ['[{"role":"user","content":"2+2?"}]', "plain prompt text", "{not json"]) {
    const [t] = spansToTriplets([span(m)]);
    assert.deepEqual(t.prompt.messages, parseJsonText(m));
    assert.equal(t.response.text, "4");
  }
  assert.equal(
    toolCallBlock({ id: "c", type: "function", function: { name: "f", arguments: '{"x": 1}' } }),
    '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>',
  );
  assert.equal(
    toolCallBlock({ id: "c", type: "function", function: { name: "f", arguments: "not json" } }),
    '<tool_call>\n{"name": "f", "arguments": "not json"}\n</tool_call>',
  );
});

// normalizeSpan checks a span on ingest and returns what the store keeps. A caller that owns a
// freshly made span (addOtelSpan's conversion) lets it keep the attribute objects instead of
// copying them: the answer, span or error, must be exactly what a copy gets.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { normalizeSpan } from "../src/store/span-input.js";

const outcome = (f: () => unknown) => {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
};

const text = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: fc.constantFrom("a", "\ud800", "\udc00", "\u00e9", "\ud83d\ude00"), maxLength: 4 }),
);
const value = fc.oneof(
  text,
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(text, { maxLength: 3 }),
  fc.array(fc.double(), { maxLength: 3 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 2 })), { maxLength: 3 }),
  fc.anything({ maxDepth: 1 }),
);
const attributes = fc.oneof(fc.dictionary(fc.oneof(text, fc.constant("__proto__")), value, { maxKeys: 5 }), fc.anything({ maxDepth: 1 }));
const span = fc.record(
  {
    rolloutId: fc.oneof(fc.constant("ro-1"), text),
    attemptId: fc.constant("at-1"),
    traceId: fc.oneof(fc.constant("0123456789abcdef0123456789abcdef"), text),
    spanId: fc.oneof(fc.constant("0123456789abcdef"), text),
    parentId: fc.oneof(fc.constant(null), fc.constant("fedcba9876543210")),
    name: fc.oneof(fc.constant("chat model"), text),
    status: fc.oneof(
      fc.record(
        { statusCode: fc.constantFrom("UNSET", "OK", "ERROR", "bad"), description: fc.oneof(fc.constant(null), text) },
        { requiredKeys: ["statusCode"] },
      ),
      fc.anything({ maxDepth: 1 }),
    ),
    attributes,
    events: fc.oneof(
      fc.array(fc.record({ name: text, timestamp: fc.double(), attributes }), { maxLength: 2 }),
      fc.anything({ maxDepth: 1 }),
    ),
    links: fc.array(fc.record({ traceId: text, spanId: text, attributes }), { maxLength: 2 }),
    startTime: fc.oneof(fc.double({ min: 0, max: 2e12 }), fc.double()),
    endTime: fc.double({ min: 0, max: 2e12 }),
    resource: fc.record({ attributes, schemaUrl: text }, { requiredKeys: [] }),
    sequenceId: fc.oneof(fc.nat(), fc.integer()),
  },
  {
    requiredKeys: [
      "rolloutId",
      "attemptId",
      "traceId",
      "spanId",
      "parentId",
      "name",
      "status",
      "attributes",
      "events",
      "links",
      "startTime",
      "endTime",
      "resource",
    ],
  },
);

test("normalizeSpan of an owned span answers what it does for a copy, span or error, and keeps its attribute objects", () => {
  fc.assert(
    fc.property(span, (s) => {
      const copy = structuredClone(s);
      const owned = outcome(() => normalizeSpan(s, "where", true));
      assert.deepStrictEqual(
        owned,
        outcome(() => normalizeSpan(copy, "where")),
      );
      const out = (owned as { ok?: { attributes: object; resource: { attributes: object } } }).ok;
      if (out && Object.getPrototypeOf(s.attributes) === Object.prototype) assert.equal(out.attributes, s.attributes);
    }),
    { numRuns: 3000 },
  );
});

test("normalizeSpan copies what it is not told it owns: the caller's objects stay the caller's", () => {
  const s = {
    rolloutId: "ro-1",
    attemptId: "at-1",
    traceId: "0123456789abcdef0123456789abcdef",
    spanId: "0123456789abcdef",
    parentId: null,
    name: "n",
    status: { statusCode: "UNSET" },
    attributes: { ids: [1, 2] },
    events: [],
    links: [],
    startTime: 1,
    endTime: 2,
    resource: { attributes: { a: "b" } },
  };
  const out = normalizeSpan(s, "where");
  assert.notEqual(out.attributes, s.attributes);
  assert.notEqual(out.attributes.ids, s.attributes.ids);
  assert.notEqual(out.resource.attributes, s.resource.attributes);
  assert.deepEqual(out.attributes, s.attributes);
});

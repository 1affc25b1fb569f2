// The hand-written OTLP protobuf decoder against protobufjs' (the reference,
// with the official field numbers in otlp-proto.ts): the same spans for any
// request, and a clear OtlpDecodeError (never another crash) for any bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeOtlpTraces, OtlpDecodeError } from "../src/server/otlp-decode.js";
import { otlpToSpans } from "../src/server/otlp-ingest.js";
import { ExportTraceServiceRequest } from "../src/server/otlp-proto.js";

const leaf = fc.oneof(
  fc.record({ stringValue: fc.string() }),
  fc.record({ boolValue: fc.boolean() }),
  fc.record({ intValue: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) }),
  fc.record({ doubleValue: fc.double() }),
  fc.record({ bytesValue: fc.uint8Array({ maxLength: 8 }) }),
  fc.constant({}),
);
const { anyValue } = fc.letrec((tie) => ({
  anyValue: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({ arrayValue: fc.record({ values: fc.array(tie("anyValue"), { maxLength: 3 }) }) }),
    fc.record({ kvlistValue: fc.record({ values: fc.array(tie("keyValue"), { maxLength: 3 }) }) }),
  ),
  keyValue: fc.record(
    { key: fc.constantFrom("a", "b", "gen_ai.system", "__proto__", ""), value: tie("anyValue") },
    { requiredKeys: ["key"] },
  ),
}));
const keyValue = fc.record(
  {
    key: fc.oneof(
      fc.constantFrom("a", "b", "agentlightning.rollout_id", "agentlightning.attempt_id", "agentlightning.span_sequence_id", "__proto__"),
      // Keys the decoder's key table files under one slot (same length, first, middle and last byte), and non-ASCII ones.
      fc.constantFrom("aXbYc", "aZbWc", "aQbQc", "ké", "kéy", "k\u00e9", "ключ"),
      fc.string({ unit: "binary", maxLength: 6 }),
    ),
    value: anyValue,
  },
  { requiredKeys: ["key"] },
);
const nanos = fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String);
const bytes = (n: number) => fc.oneof(fc.uint8Array({ minLength: n, maxLength: n }), fc.constant(new Uint8Array(0)));
const span = fc.record(
  {
    traceId: bytes(16),
    spanId: bytes(8),
    parentSpanId: bytes(8),
    name: fc.string(),
    kind: fc.integer({ min: 0, max: 5 }),
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes: fc.array(keyValue, { maxLength: 4 }),
    events: fc.array(
      fc.record({ timeUnixNano: nanos, name: fc.string(), attributes: fc.array(keyValue, { maxLength: 2 }) }, { requiredKeys: [] }),
      { maxLength: 2 },
    ),
    links: fc.array(
      fc.record({ traceId: bytes(16), spanId: bytes(8), attributes: fc.array(keyValue, { maxLength: 2 }) }, { requiredKeys: [] }),
      { maxLength: 2 },
    ),
    status: fc.record({ code: fc.integer({ min: -1, max: 3 }), message: fc.string() }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const rolloutAttrs = fc.constantFrom(
  [],
  [
    { key: "agentlightning.rollout_id", value: { stringValue: "ro-1" } },
    { key: "agentlightning.attempt_id", value: { stringValue: "at-1" } },
  ],
  [
    { key: "agentlightning.rollout_id", value: { stringValue: "ro-2" } },
    { key: "agentlightning.attempt_id", value: { stringValue: "at-2" } },
    { key: "agentlightning.span_sequence_id", value: { intValue: "7" } },
  ],
);
const request = fc.record({
  resourceSpans: fc.array(
    fc.record(
      {
        resource: fc.record({ attributes: fc.tuple(rolloutAttrs, fc.array(keyValue, { maxLength: 2 })).map(([a, b]) => [...a, ...b]) }),
        scopeSpans: fc.array(fc.record({ spans: fc.array(span, { maxLength: 3 }) }), { maxLength: 2 }),
        schemaUrl: fc.string(),
      },
      { requiredKeys: [] },
    ),
    { maxLength: 3 },
  ),
});

/** protobufjs' decode, with 64-bit integers as signed decimal text, then the OTLP/JSON path. */
function reference(buf: Buffer, target: { rolloutId: string; attemptId: string } | null) {
  const msg = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(buf), { longs: String, oneofs: true });
  return otlpToSpans(msg, target);
}

const plain = (b: ReturnType<typeof otlpToSpans>) =>
  JSON.parse(JSON.stringify({ groups: [...b.groups.entries()], rejected: b.rejected, errors: b.errors }));

test("the protobuf decoder gives the same attributed spans as protobufjs for any export request", () => {
  fc.assert(
    fc.property(request, fc.boolean(), (req, useTarget) => {
      const buf = Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(req)).finish());
      const target = useTarget ? { rolloutId: "ro-url", attemptId: "at-url" } : null;
      assert.deepEqual(plain(decodeOtlpTraces(buf, target)), plain(reference(buf, target)));
    }),
    { numRuns: 600 },
  );
});

test("a negative intValue decodes as the negative number it is", () => {
  const buf = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    name: "s",
                    attributes: [
                      { key: "n", value: { intValue: "-5" } },
                      { key: "big", value: { intValue: "-9007199254740993" } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
  const g = [...decodeOtlpTraces(buf, { rolloutId: "r", attemptId: "a" }).groups.values()][0];
  assert.equal(g.spans[0].attributes.n, -5);
  assert.equal(g.spans[0].attributes.big, -9007199254740992);
});

test("any bytes either decode or throw OtlpDecodeError (status 400), and a cut-off body always throws", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeOtlpTraces(Buffer.from(bytes), null);
      } catch (e) {
        assert.ok(e instanceof OtlpDecodeError, String(e));
        assert.equal(e.statusCode, 400);
      }
    }),
    { numRuns: 2000 },
  );
  const full = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [
          { scopeSpans: [{ spans: [{ name: "a span with a name", attributes: [{ key: "k", value: { stringValue: "v" } }] }] }] },
        ],
      }),
    ).finish(),
  );
  for (let cut = 1; cut < full.length; cut++) {
    // Every proper prefix ends inside a length-delimited field that encloses everything.
    assert.throws(() => decodeOtlpTraces(full.subarray(0, cut), null), OtlpDecodeError, `prefix ${cut}`);
  }
  assert.throws(() => decodeOtlpTraces(Buffer.from([0x0b]), null), /wire type 3/);
  const deep = (n: number): object => (n === 0 ? { stringValue: "x" } : { arrayValue: { values: [deep(n - 1)] } });
  const tooDeep = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: [{ key: "d", value: deep(40) }] }] }] }],
      }),
    ).finish(),
  );
  assert.throws(() => decodeOtlpTraces(tooDeep, null), /nested deeper/);
});

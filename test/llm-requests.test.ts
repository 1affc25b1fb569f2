// The proxy checks the common chat request in plain code (plainChatRequest) before zod; it must
// accept only what ChatRequestSchema accepts and answer exactly what zod answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChatRequestSchema, plainChatRequest } from "../src/llm/requests.js";

const anyValue = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -1, 0.5, 1, 2, 2.5, 16, 64, 65, 65536, 65537, 1e300, "", "x"),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.array(fc.string(), { maxLength: 18 }),
  fc.jsonValue(),
);
/** Mostly near-valid values (boundaries included), sometimes anything. */
const field = <T>(near: fc.Arbitrary<T>) => fc.oneof({ arbitrary: near, weight: 5 }, { arbitrary: anyValue, weight: 1 });
const message = field(
  fc.record(
    {
      role: fc.constantFrom("system", "developer", "user", "assistant", "tool", "bot"),
      content: field(fc.string()),
      name: field(fc.string()),
      extra: anyValue,
    },
    { requiredKeys: ["role", "content"] },
  ),
).map((m) => {
  // Extra keys only now and then: each is a refusal.
  if (m && typeof m === "object" && "extra" in m && Math.abs(JSON.stringify(m).length % 4) !== 0) delete (m as { extra?: unknown }).extra;
  return m;
});
const body = fc
  .record(
    {
      model: field(fc.constantFrom("m", "")),
      messages: field(fc.array(message, { maxLength: 4 })),
      temperature: field(fc.double({ min: -0.5, max: 2.5, noNaN: true })),
      top_p: field(fc.double({ min: 0, max: 1.2, noNaN: true })),
      n: field(fc.integer({ min: 0, max: 65 })),
      max_tokens: field(fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 65537 }))),
      max_completion_tokens: field(fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 65537 }))),
      seed: field(fc.oneof(fc.constant(null), fc.integer({ min: -1 }), fc.constant(2 ** 53))),
      stream: field(fc.boolean()),
      stop: field(fc.oneof(fc.constant(null), fc.string(), fc.array(fc.string(), { maxLength: 17 }))),
      user: field(fc.string()),
      rare: fc.record({ tools: anyValue, logprobs: anyValue, unknown_field: anyValue }, { requiredKeys: [] }),
    },
    { requiredKeys: ["model", "messages"] },
  )
  .map(({ rare, ...b }) => (JSON.stringify(b).length % 5 === 0 ? { ...b, ...rare } : b));

test("plainChatRequest accepts only what ChatRequestSchema accepts, and answers what zod answers", () => {
  let fast = 0;
  fc.assert(
    fc.property(fc.oneof(body, anyValue), (b) => {
      const got = plainChatRequest(b);
      if (got === undefined) return;
      fast++;
      const z = ChatRequestSchema.safeParse(b);
      assert.ok(z.success, `zod refuses what the plain check took: ${JSON.stringify(b)}`);
      assert.deepStrictEqual(got, z.data);
    }),
    { numRuns: 20000 },
  );
  assert.ok(fast > 20, `the plain path was taken ${fast} times: the generator no longer reaches it`);
});

test("every request of plain fields and text turns that zod accepts takes the plain path, with zod's answer", () => {
  const turn = fc.record(
    { role: fc.constantFrom("system", "developer", "user", "assistant"), content: fc.string(), name: fc.string() },
    { requiredKeys: ["role", "content"] },
  );
  const plain = fc.record(
    {
      model: fc.constantFrom("m", ""),
      messages: fc.array(turn, { maxLength: 3 }),
      temperature: fc.double({ min: -0.1, max: 2.1, noNaN: true, noDefaultInfinity: true }),
      top_p: fc.double({ min: 0, max: 1.1, noNaN: true, noDefaultInfinity: true }),
      n: fc.integer({ min: 0, max: 65 }),
      max_tokens: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 65537 })),
      max_completion_tokens: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 65537 })),
      seed: fc.oneof(fc.constant(null), fc.integer({ min: -2 }), fc.constant(2 ** 53)),
      stream: fc.boolean(),
      stop: fc.oneof(fc.constant(null), fc.string(), fc.array(fc.string(), { maxLength: 17 })),
      user: fc.string(),
    },
    { requiredKeys: [] },
  );
  let taken = 0;
  fc.assert(
    fc.property(plain, (b) => {
      const z = ChatRequestSchema.safeParse(b);
      const got = plainChatRequest(b);
      if (!z.success) return assert.equal(got, undefined, `the plain check took what zod refuses: ${JSON.stringify(b)}`);
      taken++;
      assert.deepStrictEqual(got, z.data);
    }),
    { numRuns: 5000 },
  );
  assert.ok(taken > 200, `only ${taken} valid requests generated`);
});

test("the common chat request takes the plain path (what the openai SDK sends)", () => {
  const b = {
    model: "m",
    messages: [
      { role: "system", content: "be brief" },
      { role: "user", content: "1+2=" },
    ],
    temperature: 1,
    max_tokens: 1,
  };
  assert.deepStrictEqual(plainChatRequest(b), ChatRequestSchema.parse(b));
  assert.equal(plainChatRequest({ ...b, tools: [] }), undefined, "anything else goes to zod");
});

// parseId checks ids in plain code before zod (every store call checks its ids); it must accept
// and refuse exactly what the id schema does, with the schema's own error.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { z } from "zod";
import { idSchema, parseId, parseOrThrow } from "../src/types/validate.js";
import { DequeueOptionsSchema, parseAttemptUpdate, parseDequeueOptions, RolloutIdSchema } from "../src/store/operation-args.js";
import { AttemptUpdateSchema } from "../src/types/rollout.js";
import { ATTEMPT_STATUSES } from "../src/types/status.js";

const outcome = (f: () => unknown) => {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
};

/** `parse` answers what `schema` does for every value `arb` makes: the same output, or the same error. */
function answersLikeSchema<T>(arb: fc.Arbitrary<T>, parse: (v: T, where: string) => unknown, schema: z.ZodType, numRuns: number) {
  fc.assert(
    fc.property(arb, (v) =>
      assert.deepStrictEqual(
        outcome(() => parse(v, "where")),
        outcome(() => parseOrThrow(schema, v, "where")),
      ),
    ),
    { numRuns },
  );
}

test("parseId accepts and refuses exactly what its id schema does, with the same error", () => {
  const short = idSchema("rolloutId", 8);
  const value = fc.oneof(
    fc.anything(),
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.string({ unit: fc.constantFrom("a", "\ud800", "\udc00", "\u00e9", "\ud83d\ude00"), maxLength: 10 }),
    fc.integer({ min: 1020, max: 1030 }).map((n) => "x".repeat(n)),
  );
  fc.assert(
    fc.property(value, (v) => {
      for (const schema of [RolloutIdSchema, short])
        assert.deepEqual(
          outcome(() => parseId(schema, v, "where")),
          outcome(() => parseOrThrow(schema, v, "where")),
        );
    }),
    { numRuns: 2000 },
  );
});

test("parseDequeueOptions answers what DequeueOptionsSchema does, errors included", () => {
  const opts = fc.oneof(
    fc.anything(),
    fc.record({ workerId: fc.oneof(fc.string({ maxLength: 6 }), fc.anything()) }),
    fc.record({ workerId: fc.string({ maxLength: 6 }), other: fc.anything() }, { requiredKeys: ["workerId"] }),
  );
  answersLikeSchema(opts, parseDequeueOptions, DequeueOptionsSchema, 3000);
});

test("parseAttemptUpdate answers what AttemptUpdateSchema does, errors included", () => {
  const time = fc.oneof(fc.double(), fc.constantFrom(null, 0, -0, Number.NaN, Infinity, -Infinity, Number.MAX_VALUE), fc.anything());
  const field = {
    status: fc.oneof(fc.constantFrom(...ATTEMPT_STATUSES, "Running", "done", ""), fc.anything()),
    workerId: fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null), fc.anything()),
    lastHeartbeatTime: time,
    endTime: time,
    metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), fc.anything()),
    other: fc.anything(),
    ["__proto__"]: fc.anything(),
  };
  const update = fc.oneof(
    fc.anything(),
    fc.record(field, { requiredKeys: [] }),
    fc.record({ status: fc.constantFrom(...ATTEMPT_STATUSES), endTime: fc.double() }),
    fc.record({ status: fc.constantFrom(...ATTEMPT_STATUSES), endTime: fc.constant(undefined) }),
  );
  answersLikeSchema(update, parseAttemptUpdate, AttemptUpdateSchema, 4000);
});

// Property tests at the frames' boundaries: the JSON helpers every reader
// shares, and span frames of random attributes read from a live store and
// from its directory (Parquet parts as Arrow plus the WAL tail) alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { frames } from "../src/frame/index.js";
import { openStore, type DurableStore } from "../src/store/index.js";
import { parseJsonText, toJsonText } from "../src/types/json.js";
import type { Attributes } from "../src/types/index.js";
import { spanDraft } from "./helpers/span-draft.js";

test("toJsonText never throws and parseJsonText reads back what it wrote; non-JSON text stays as it is", () => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      assert.equal(typeof toJsonText(v), "string");
    }),
  );
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.deepEqual(parseJsonText(toJsonText(v)), JSON.parse(JSON.stringify(v)));
    }),
  );
  fc.assert(
    fc.property(fc.string(), (s) => {
      let isJson = true;
      try {
        JSON.parse(s);
      } catch {
        isJson = false;
      }
      if (!isJson) assert.equal(parseJsonText(s), s);
    }),
  );
  assert.equal(parseJsonText(undefined), null);
  assert.deepEqual(parseJsonText([1, 2]), [1, 2]);
  assert.equal(toJsonText(10n), "10");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(toJsonText(cyclic), "[object Object]");
});

const rows = (t: { objects(): object[] }) =>
  t
    .objects()
    .map((r) => JSON.stringify(r, (_k, v) => (v instanceof Date ? v.getTime() : v)))
    .sort();

const attrValue = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 3 }),
);
const attrs = fc.dictionary(
  fc.constantFrom("a", "b.c", "name", "gen_ai.request.model", "gen_ai.usage.input_tokens", "agentlightning.reward.0.value"),
  attrValue,
  { maxKeys: 4 },
);

/** Span i of the rollout: times 1.5 ms apart (sub-millisecond parts exercise the microsecond rounding). */
function addSpan(
  store: DurableStore,
  ar: { rolloutId: string; attempt: { attemptId: string } },
  i: number,
  name: string,
  attributes: Attributes,
) {
  return store.addSpan(
    spanDraft({
      rolloutId: ar.rolloutId,
      attemptId: ar.attempt.attemptId,
      spanId: (i + 1).toString(16).padStart(16, "0"),
      name,
      attributes,
      startTime: 1_764_000_000_000 + i * 1.5,
      endTime: 1_764_000_000_010 + i * 2,
    }),
  );
}

test("span frames of random attributes are the same from a store and from its directory, flattened or not", {
  timeout: 120_000,
}, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(attrs, { minLength: 1, maxLength: 12 }), fc.nat({ max: 12 }), async (list, flushAt) => {
      const dir = mkdtempSync(join(tmpdir(), "arclight-frame-prop-"));
      try {
        const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
        const ar = await store.startRollout({ input: null });
        for (let i = 0; i < list.length; i++) {
          if (i === flushAt) await store.flush(); // spans before: Parquet; after: WAL tail
          await addSpan(store, ar, i, `s${i % 3}`, list[i] as Attributes);
        }
        for (const opts of [
          {},
          { flatten: true },
          { flatten: ["a", "b.c", "missing"], attributes: false },
          { columns: ["name" as const, "duration_ms" as const] },
        ]) {
          assert.deepEqual(rows(await frames.spans(dir, {}, opts)), rows(await frames.spans(store, {}, opts)), JSON.stringify(opts));
        }
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 6, seed: 7 },
  );
});

test("attribute keys picked in the Parquet scan read back as the store holds them, whatever the key or attribute value", {
  timeout: 120_000,
}, async () => {
  const key = fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), fc.constantFrom("a/b", "~0", "~1/", 'q"u', "é.ü", "a.b", "$.x", "[0]"));
  // Every OTel attribute value shape, with the numbers and strings JSON text gets wrong most easily.
  const num = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0.1 + 0.2, 1e21, -0, 2 ** 53 + 2, 5e-324));
  const str = fc.oneof(fc.string({ unit: "binary", maxLength: 6 }), fc.constantFrom("\u0000", "\u2028", '"', "\\"));
  const value = fc.oneof(
    str,
    num,
    fc.boolean(),
    fc.constant(null),
    fc.array(str, { maxLength: 3 }),
    fc.array(num, { maxLength: 3 }),
    fc.array(fc.boolean(), { maxLength: 3 }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(key, { minLength: 1, maxLength: 4 }),
      fc.array(fc.array(value, { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
      async (keys, values) => {
        const dir = mkdtempSync(join(tmpdir(), "arclight-frame-keys-"));
        try {
          const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
          const ar = await store.startRollout({ input: null });
          for (let i = 0; i < values.length; i++) {
            // Every other span leaves the last key out, so absent keys are covered too.
            const attributes = Object.fromEntries(
              keys.map((k, j) => [k, values[i][j]]).filter((_, j) => i % 2 === 0 || j < keys.length - 1),
            );
            await addSpan(store, ar, i, "s", attributes as Attributes);
          }
          await store.flush(); // all in Parquet: the keys come from DuckDB's extraction
          const opts = { columns: ["span_id" as const], flatten: keys, attributes: false };
          assert.deepEqual(rows(await frames.spans(dir, {}, opts)), rows(await frames.spans(store, {}, opts)));
          await store.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 15, seed: 11 },
  );
});

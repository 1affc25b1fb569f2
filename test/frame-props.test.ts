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
          await store.addSpan({
            rolloutId: ar.rolloutId,
            attemptId: ar.attempt.attemptId,
            traceId: "ab".repeat(16),
            spanId: (i + 1).toString(16).padStart(16, "0"),
            parentId: null,
            name: `s${i % 3}`,
            status: { statusCode: "OK" },
            attributes: list[i] as Attributes,
            events: [],
            links: [],
            startTime: 1_764_000_000_000 + i * 1.5,
            endTime: 1_764_000_000_010 + i * 2,
            resource: { attributes: {}, schemaUrl: "" },
          });
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

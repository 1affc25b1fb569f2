// The store's record helpers: copies that never alias the caller, ids that do
// not repeat, and waitForRollouts checking each id off as its rollout ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { copy, newId } from "../src/store/entries.js";
import { MemoryStore } from "../src/store/memory-store.js";

/** assert.deepEqual calls two invalid Dates different (NaN times), even two structuredClones of one: such values cannot be compared. */
function holdsInvalidDate(v: unknown, seen = new Set<unknown>()): boolean {
  if (v instanceof Date) return Number.isNaN(v.getTime());
  if (typeof v !== "object" || v === null || seen.has(v)) return false;
  seen.add(v);
  const inner = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Object.values(v);
  return inner.some((x) => holdsInvalidDate(x, seen));
}

test("copy gives what structuredClone gives for any JSON-like value, and shares nothing with it", () => {
  fc.assert(
    fc.property(
      fc.jsonValue(),
      fc
        .anything({ withNullPrototype: true, withSparseArray: true, withDate: true, withMap: true, withSet: true })
        .filter((v) => !holdsInvalidDate(v)),
      (json, any) => {
        for (const v of [json, any, { nested: [json, any] }]) {
          const c = copy(v);
          assert.deepEqual(c, structuredClone(v));
          if (typeof v === "object" && v !== null) assert.notEqual(c, v);
        }
        const j = { v: json };
        const c = copy(j);
        if (typeof c.v === "object" && c.v !== null) assert.notEqual(c.v, j.v);
      },
    ),
    { numRuns: 300 },
  );
});

test("copy keeps an own __proto__ key as data and falls back to structuredClone for cycles, dates and functions", () => {
  const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
  const c = copy(parsed);
  assert.equal(Object.getPrototypeOf(c), Object.prototype);
  assert.deepEqual(Object.keys(c), ["__proto__", "a"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const cyc: Record<string, unknown> = { a: 1 };
  cyc.self = cyc;
  const cc = copy(cyc);
  assert.equal(cc.self, cc);
  const d = copy({ at: new Date(5) });
  assert.ok(d.at instanceof Date && d.at.getTime() === 5);
  assert.throws(() => copy({ f: () => 1 }), { name: "DataCloneError" });
});

test("newId draws distinct ids of the documented shape", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 5000; i++) ids.add(newId("ro"));
  assert.equal(ids.size, 5000);
  for (const id of ids) assert.match(id, /^ro-[0-9a-f]{16}$/);
});

test("waitForRollouts resolves once every id has ended, counting ids already terminal, repeated or not yet enqueued", {
  timeout: 10_000,
}, async () => {
  const store = new MemoryStore({ deadlineCheckIntervalMs: 0 });
  try {
    const [a, b, c] = await store.enqueueManyRollouts([{ input: 1 }, { input: 2 }, { input: 3 }]);
    await store.updateRollout(a.rolloutId, { status: "cancelled" });
    let resolved: string[] | null = null;
    const wait = store
      .waitForRollouts([a.rolloutId, b.rolloutId, b.rolloutId, c.rolloutId, "ro-later"])
      .then((rs) => (resolved = rs.map((r) => r.rolloutId)));
    await store.updateRollout(b.rolloutId, { status: "cancelled" });
    const ar = (await store.dequeueRollout())!;
    assert.equal(ar.rolloutId, c.rolloutId);
    await store.updateAttempt(ar.rolloutId, ar.attempt.attemptId, { status: "succeeded" });
    await new Promise((r) => setImmediate(r));
    assert.equal(resolved, null, "ro-later has not ended");
    await store.enqueueRollout({ rolloutId: "ro-later", input: 4 });
    await store.updateRollout("ro-later", { status: "cancelled" });
    await wait;
    assert.deepEqual(resolved, [a.rolloutId, b.rolloutId, b.rolloutId, c.rolloutId, "ro-later"]);
  } finally {
    await store.close();
  }
});

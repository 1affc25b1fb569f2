import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import { tableFromArrays } from "apache-arrow";
import { table } from "../src/viz/index.js";
import { toMimeBundle } from "../src/display/mime.js";
import { DISPLAY } from "../src/display/protocol.js";
import { ValidationError } from "../src/types/errors.js";

const rows = Array.from({ length: 30 }, (_, i) => ({
  rollout_id: `ro-${i}`,
  reward: i / 10,
  calls: i,
  ok: i % 2 === 0,
  start_time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
}));

test("an arquero table shows as HTML with column types, row count and a head/tail preview", () => {
  const t = aq.from(rows);
  const bundle = table(t, { head: 3, tail: 2 })[DISPLAY]();
  const html = bundle["text/html"] as string;
  for (const name of ["rollout_id", "reward", "calls", "ok", "start_time"]) assert.ok(html.includes(`>${name}<`), name);
  for (const type of ["string", "float64", "int", "boolean", "timestamp"]) assert.ok(html.includes(`>${type}<`), type);
  assert.ok(html.includes("30 rows × 5 columns"));
  assert.ok(html.includes("ro-2<") && !html.includes("ro-3<"), "head stops at 3 rows");
  assert.ok(html.includes("ro-28<") && html.includes("ro-29<") && !html.includes("ro-27<"), "tail shows the last 2");
  assert.ok(html.includes("25 more rows"));
  assert.ok(html.includes("2026-01-01T00:00:29.000Z"));
  const text = bundle["text/plain"] as string;
  assert.match(text, /^\s+rollout_id\s+reward/);
  assert.match(text, /30 rows × 5 columns$/);
});

test("cell text is escaped and cut, so a prompt cannot inject markup", () => {
  const html = table([{ prompt: `<script>alert(1)</script>${"x".repeat(200)}` }], { maxCellChars: 40 })[DISPLAY]()["text/html"] as string;
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(html.includes("…"));
  assert.ok(!html.includes("x".repeat(41)));
});

test("frames display through the formatter without wrapping: arquero, Arrow and record arrays", () => {
  const fromAq = toMimeBundle(aq.from(rows));
  assert.ok((fromAq["text/html"] as string).includes("30 rows × 5 columns"));
  const arrow = tableFromArrays({ x: Float64Array.from([1.5, 2.5, 3.5]), name: ["a", "b", "c"] });
  const fromArrow = toMimeBundle(arrow);
  assert.ok((fromArrow["text/html"] as string).includes("3 rows × 2 columns"));
  assert.ok((fromArrow["text/html"] as string).includes(">Float64<"), "Arrow tables report their Arrow types");
  const fromRecords = toMimeBundle([{ a: 1 }, { a: 2, b: "x" }]);
  assert.ok((fromRecords["text/html"] as string).includes("2 rows × 2 columns"));
  assert.equal(toMimeBundle([1, 2, 3])["text/html"], undefined, "arrays of numbers are not tables");
});

test("typed-array columns report their storage type and nulls do not change a column's type", () => {
  const t = aq.table({ v: Float64Array.from([1, 2]), n: Int32Array.from([3, 4]), s: ["a", null] });
  const types = Object.fromEntries(table(t).columns.map((c) => [c.name, c.type]));
  assert.deepEqual(types, { v: "float64", n: "int32", s: "string" });
  assert.throws(() => table(42), ValidationError);
  assert.throws(() => table(rows, { head: -1 }), ValidationError);
});

test("store ids stay on one line, shortened with the full id on hover; wide tables scroll in their own box", () => {
  const row: Record<string, unknown> = { rollout: "ro-0123456789abcdef", attempt: "at-fedcba9876543210", note: "ro-short" };
  for (let i = 0; i < 13; i++) row[`metric_${i}`] = i / 3;
  const html = table([row]).toHTML();
  assert.match(html, /<td style="white-space:nowrap"><span title="ro-0123456789abcdef">ro-01234567…<\/span><\/td>/);
  assert.match(html, /<span title="at-fedcba9876543210">at-fedcba98…<\/span>/);
  // Not an id: shown as it is.
  assert.match(html, /<td>ro-short<\/td>/);
  assert.match(html, /^<div class="arclight-table" style="overflow-x:auto;max-width:100%">/);
  // The text form keeps full ids (copyable).
  assert.match(table([row]).toString(), /ro-0123456789abcdef/);
});

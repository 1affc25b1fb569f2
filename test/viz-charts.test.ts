import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import { charts, chart, Chart, VEGALITE_MIME, compileSpec } from "../src/viz/index.js";
import { measureText } from "../src/viz/font.js";
import { DISPLAY } from "../src/display/protocol.js";
import { ValidationError } from "../src/types/errors.js";

function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function rewardRows(n: number, seed = 7) {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    rollout_id: `ro-${i}`,
    attempt_id: `at-${i}`,
    dimension: "primary",
    value: r(),
    step: Math.floor(i / 4),
    time: new Date(Date.UTC(2026, 0, 1) + i * 1000),
  }));
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test("a chart displays as one bundle with vega-lite v5 JSON, SVG, PNG and a text summary", () => {
  const c = charts.rewardCurve(aq.from(rewardRows(40)), { title: "Reward of the tiny agent" });
  const bundle = c[DISPLAY]();
  assert.deepEqual(Object.keys(bundle).sort(), [VEGALITE_MIME, "image/png", "image/svg+xml", "text/plain"].sort());
  const vl = bundle[VEGALITE_MIME] as Record<string, unknown>;
  assert.equal(typeof vl, "object");
  assert.match(String(vl.$schema), /vega-lite\/v5\.json$/);
  const svg = bundle["image/svg+xml"] as string;
  assert.ok(svg.startsWith("<svg"), svg.slice(0, 40));
  assert.ok(svg.includes("Reward of the tiny agent"));
  assert.ok(svg.includes("training step"), "x axis says what it is");
  const png = Buffer.from(bundle["image/png"] as string, "base64");
  assert.ok(png.subarray(0, 8).equals(PNG_MAGIC));
  assert.ok(png.length > 1000);
  assert.match(bundle["text/plain"] as string, /10 points/);
});

test("SVG text is laid out with the bundled font's widths and renders identically twice", () => {
  assert.ok(measureText("WWWW", 11) > 2 * measureText("iiii", 11), "proportional advance widths, not the 0.8 em guess");
  // DejaVu Sans: 'W' advances 2025 of 2048 units.
  assert.ok(Math.abs(measureText("W", 2048) - 2025) < 1e-9);
  const spec = {
    title: "Same everywhere",
    data: {
      values: [
        { a: "x", b: 1 },
        { a: "y", b: 3 },
      ],
    },
    mark: "bar",
    encoding: { x: { field: "a", type: "nominal" }, y: { field: "b", type: "quantitative" } },
  };
  const one = chart(spec);
  const two = chart(structuredClone(spec));
  assert.equal(one.toSVG(), two.toSVG());
  assert.ok(one.toPNG().equals(two.toPNG()));
  assert.match(one.toSVG(), /font-family="DejaVu Sans/);
  const png2 = one.toPNG({ scale: 2 });
  const png1 = one.toPNG({ scale: 1 });
  // IHDR width sits at byte 16.
  assert.equal(png2.readUInt32BE(16), 2 * png1.readUInt32BE(16));
});

test("the generic chart validates its spec and keeps it editable", () => {
  assert.throws(() => chart({ data: { values: [] }, mark: "nonsense" }), ValidationError);
  assert.throws(() => chart("bar"), ValidationError);
  assert.throws(() => chart({ $schema: "https://vega.github.io/schema/vega/v5.json", mark: "bar" }), ValidationError);
  const c = chart({
    title: "Before",
    data: {
      values: [
        { x: 1, y: 2 },
        { x: 2, y: 4 },
      ],
    },
    mark: "line",
    encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
  });
  assert.ok(c.toSVG().includes("Before"));
  (c.spec as { title: string }).title = "After";
  assert.ok(c.toSVG().includes("After"), "edits to .spec show in the next render");
  assert.match(c.summary(), /After: 2 points; y min 2 mean 3 max 4/);
  const user = chart({
    data: { values: [{ x: 1 }] },
    mark: "point",
    encoding: { x: { field: "x", type: "quantitative" } },
    config: { font: "serif" },
  });
  assert.equal((user.spec as { config: { font: string } }).config.font, "serif", "a spec's own config wins over the theme");
});

test("rewardCurve averages per step and draws a rolling mean with the window it reports", () => {
  const rows = rewardRows(80);
  const c = charts.rewardCurve(rows, { window: 5 });
  const spec = c.spec as unknown as {
    layer: { transform?: { window: unknown; frame: number[] }[]; encoding: { x: { field: string } } }[];
    data: { values: { step: number; value: number }[] };
  };
  assert.equal(spec.layer[0].encoding.x.field, "step");
  assert.deepEqual(spec.layer[1].transform![0].frame, [-4, 0]);
  const perStep = new Map<number, number[]>();
  for (const r of rows) perStep.set(r.step, [...(perStep.get(r.step) ?? []), r.value]);
  const expected = [...perStep.values()].map((v) => v.reduce((a, b) => a + b, 0) / v.length);
  assert.equal(spec.data.values.length, expected.length);
  spec.data.values.forEach((p, i) => assert.ok(Math.abs(p.value - expected[i]) < 1e-12));
  assert.doesNotThrow(() => compileSpec(c.spec));
});

test("rewardCurve falls back to a UTC wall-clock axis without steps and rejects unknown columns", () => {
  const rows = rewardRows(30).map(({ step: _s, ...r }) => r);
  const c = charts.rewardCurve(rows);
  const enc = (c.spec as unknown as { layer: { encoding: { x: { type: string; scale: { type: string } } } }[] }).layer[0].encoding.x;
  assert.equal(enc.type, "temporal");
  assert.equal(enc.scale.type, "utc");
  assert.ok(c.toSVG().includes("wall clock (UTC)"));
  assert.throws(() => charts.rewardCurve(rows, { x: "no_such" }), /no column "no_such"/);
  assert.throws(() => charts.rewardCurve(42), ValidationError);
});

test("latency shows p50/p90/p99 per span name, slowest first", () => {
  const rows = [
    ...Array.from({ length: 101 }, (_, i) => ({ name: "fast", duration_ms: i })),
    ...Array.from({ length: 11 }, (_, i) => ({ name: "slow", duration_ms: 1000 + i * 10 })),
  ];
  const c = charts.latency(rows);
  const text = c.summary();
  assert.ok(text.indexOf("slow") < text.indexOf("fast"));
  assert.match(text, /fast: n 101, p50 50 ms, p90 90 ms, p99 99 ms/);
  assert.match(text, /slow: n 11, p50 1050 ms/);
  assert.ok(c.toSVG().includes("latency (ms)"));
});

test("tokens sums input and output tokens per rollout", () => {
  const rows = [
    { rollout_id: "a", input_tokens: 10, output_tokens: 1 },
    { rollout_id: "a", input_tokens: 5, output_tokens: 2 },
    { rollout_id: "b", input_tokens: 7, output_tokens: null },
  ];
  const c = charts.tokens(rows);
  const values = (c.spec as unknown as { data: { values: { rollout_id: string; kind: string; tokens: number }[] } }).data.values;
  const get = (id: string, kind: string) => values.find((v) => v.rollout_id === id && v.kind === kind)?.tokens;
  assert.equal(get("a", "input"), 15);
  assert.equal(get("a", "output"), 3);
  assert.equal(get("b", "output"), 0);
  assert.match(c.summary(), /3 LLM calls; input tokens 22, output tokens 3/);
});

test("rewardDistribution and compareRuns render with their data", () => {
  const d = charts.rewardDistribution(rewardRows(50), { bins: 10 });
  assert.ok(d.toSVG().includes("rewards (count)"));
  const mean = rewardRows(50).reduce((a, r) => a + r.value, 0) / 50;
  assert.match(d.summary(), new RegExp(`mean ${mean.toFixed(3)}`));
  const cmp = charts.compareRuns({ baseline: rewardRows(40, 1), tuned: rewardRows(40, 2) });
  assert.match(cmp.summary(), /2 runs\n {2}baseline: 10 points/);
  assert.ok(cmp.toSVG().includes("tuned"), "the legend names the runs");
});

test("rewardAgreement lists the largest disagreements, one-sided rewards first", () => {
  const rows = [
    { rollout_id: "same", old_reward: 1, new_reward: 1 },
    { rollout_id: "small", old_reward: 0.5, new_reward: 0.6 },
    { rollout_id: "big", old_reward: 0.9, new_reward: 0.1 },
    { rollout_id: "only-old", old_reward: 0.3, new_reward: null },
  ];
  const c = charts.rewardAgreement(rows);
  assert.deepEqual(
    c.disagreements.map((d) => d.id),
    ["only-old", "big", "small"],
  );
  assert.ok(Math.abs(c.disagreements[1].diff - -0.8) < 1e-12);
  assert.equal(c.agreement.n, 3);
  assert.ok(Math.abs(c.agreement.exactMatch - 1 / 3) < 1e-12);
  assert.ok(c instanceof Chart);
  assert.ok(c.toSVG().includes("largest disagreements"));
  const binary = charts.rewardAgreement(
    Array.from({ length: 12 }, (_, i) => ({ rollout_id: `r${i}`, old_reward: i % 2, new_reward: i % 3 === 0 ? 1 : 0 })),
  );
  const cells = (binary.spec as unknown as { hconcat: { data: { values: { old: number; new: number; count: number }[] } }[] }).hconcat[0]
    .data.values;
  assert.equal(
    cells.reduce((a, c2) => a + c2.count, 0),
    12,
    "confusion cells count every rollout",
  );
  assert.equal(cells.find((x) => x.old === 1 && x.new === 1)?.count, 2);
});

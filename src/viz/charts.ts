// Ready-made charts over frames: reward curves, distributions, latency,
// tokens, run comparison and reward agreement. Each aggregates in JS first so
// the embedded data stays small, then hands back an editable spec.

import type { TopLevelSpec } from "vega-lite";
import { ValidationError } from "../types/errors.js";
import { Chart, chart } from "./chart.js";
import { chartRows, fmt, hasField, numbers, quantileSorted, stats, toRows, type Row } from "./data.js";

/** Most points a curve embeds; denser curves are averaged into this many buckets along x. */
const MAX_CURVE_POINTS = 2000;

function str(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === "boolean") return v ? 1 : 0;
  return NaN;
}

function checkField(rows: Row[], field: string, where: string): void {
  if (rows.length > 0 && !rows.some((r) => field in r)) {
    const cols = Object.keys(rows[0]).join(", ");
    throw new ValidationError(where, [`frame has no column ${JSON.stringify(field)} (columns: ${cols})`]);
  }
}

function distinct(rows: Row[], field: string): unknown[] {
  return [...new Set(rows.map((r) => r[field]).filter((v) => v !== null && v !== undefined))];
}

// ---------------------------------------------------------------------------
// Reward curves

export interface RewardCurveOptions {
  /** "step" (training step), "time" (wall clock), "index" (row order) or any column; default: step when present, else time. */
  x?: string;
  /** Column holding the reward; default "value" (rewards frame), else "reward". */
  y?: string;
  /** Column that splits curves (default: "dimension" when the frame has several). */
  color?: string | null;
  /** Keep only this reward dimension. */
  dimension?: string;
  /** Rolling-mean window in points; 0 or 1 turns it off. Default: about a twentieth of the points, 1 to 50. */
  window?: number;
  title?: string;
}

interface CurveSetup {
  points: Row[];
  x: string;
  xType: "quantitative" | "temporal";
  xTitle: string;
  y: string;
  color: string | null;
  window: number;
  aggregated: boolean;
}

function pickX(rows: Row[], x: string | undefined): string {
  if (x) return x;
  if (hasField(rows, "step")) return "step";
  if (hasField(rows, "time")) return "time";
  if (hasField(rows, "start_time")) return "start_time";
  return "index";
}

function pickY(rows: Row[], y: string | undefined, where: string): string {
  if (y) {
    checkField(rows, y, where);
    return y;
  }
  for (const c of ["value", "reward", "final_reward", "new_reward"]) if (hasField(rows, c)) return c;
  throw new ValidationError(where, ["frame has no reward column (value, reward or final_reward); pass { y }"]);
}

const X_TITLES: Record<string, string> = {
  step: "training step",
  time: "wall clock (UTC)",
  start_time: "wall clock (UTC)",
  end_time: "wall clock (UTC)",
  index: "reward # (in order)",
  resources_version: "resources version",
};

/** Mean of y per (x, color), then averaged into buckets when there are too many x values. */
function curvePoints(rows: Row[], x: string, y: string, color: string | null, temporal: boolean): { points: Row[]; aggregated: boolean } {
  const groups = new Map<string, { x: number; c: unknown; sum: number; n: number }>();
  rows.forEach((r, i) => {
    const xv = x === "index" ? i : num(r[x]);
    const yv = num(r[y]);
    if (!Number.isFinite(xv) || !Number.isFinite(yv)) return;
    const c = color ? r[color] ?? null : null;
    const key = `${xv}\u0000${color ? str(c) : ""}`;
    const g = groups.get(key);
    if (g) {
      g.sum += yv;
      g.n += 1;
    } else groups.set(key, { x: xv, c, sum: yv, n: 1 });
  });
  let gs = [...groups.values()].sort((a, b) => a.x - b.x);
  let aggregated = gs.length < rows.length;
  if (gs.length > MAX_CURVE_POINTS) {
    const xs = gs.map((g) => g.x);
    const lo = xs[0];
    const width = (xs[xs.length - 1] - lo) / MAX_CURVE_POINTS || 1;
    const buckets = new Map<string, { x: number; c: unknown; sum: number; n: number; xs: number }>();
    for (const g of gs) {
      const b = Math.min(MAX_CURVE_POINTS - 1, Math.floor((g.x - lo) / width));
      const key = `${b}\u0000${color ? str(g.c) : ""}`;
      const e = buckets.get(key);
      if (e) {
        e.sum += g.sum;
        e.n += g.n;
        e.xs += g.x * g.n;
      } else buckets.set(key, { x: 0, c: g.c, sum: g.sum, n: g.n, xs: g.x * g.n });
    }
    gs = [...buckets.values()].map((e) => ({ x: e.xs / e.n, c: e.c, sum: e.sum, n: e.n })).sort((a, b) => a.x - b.x);
    aggregated = true;
  }
  const points = gs.map((g) => {
    const p: Row = { [x]: temporal ? Math.round(g.x) : g.x, [y]: g.sum / g.n, n: g.n };
    if (color) p[color] = g.c === null ? null : str(g.c);
    return p;
  });
  return { points, aggregated };
}

function setupCurve(rows: Row[], opts: RewardCurveOptions, where: string): CurveSetup {
  let rs = rows;
  if (opts.dimension !== undefined) {
    checkField(rs, "dimension", where);
    rs = rs.filter((r) => r.dimension === opts.dimension);
  }
  const x = pickX(rs, opts.x);
  if (x !== "index") checkField(rs, x, where);
  const y = pickY(rs, opts.y, where);
  let color: string | null = null;
  if (opts.color) {
    checkField(rs, opts.color, where);
    color = opts.color;
  } else if (opts.color === undefined && opts.dimension === undefined && distinct(rs, "dimension").length > 1) color = "dimension";
  const temporal = rs.some((r) => r[x] instanceof Date) || x === "time" || x.endsWith("_time");
  const { points, aggregated } = curvePoints(rs, x, y, color, temporal);
  const perCurve = color ? points.length / Math.max(1, distinct(points, color).length) : points.length;
  const auto = Math.max(1, Math.min(50, Math.round(perCurve / 20)));
  const window = opts.window ?? auto;
  if (!Number.isInteger(window) || window < 0) throw new ValidationError(where, [`window must be a non-negative integer, got ${window}`]);
  return { points, x, xType: temporal ? "temporal" : "quantitative", xTitle: X_TITLES[x] ?? x, y, color, window, aggregated };
}

function curveSpec(c: CurveSetup, title: string, yTitle: string): TopLevelSpec {
  const xEnc: Record<string, unknown> = { field: c.x, type: c.xType, title: c.xTitle };
  if (c.xType === "temporal") xEnc.scale = { type: "utc" };
  else if (c.points.length && c.points.every((p) => Number.isInteger(p[c.x]))) {
    // Steps are whole numbers: no 0.5 ticks, and the axis starts where the run does.
    xEnc.axis = { tickMinStep: 1, format: "d" };
    xEnc.scale = { zero: false };
  }
  const colorEnc = c.color ? { color: { field: c.color, type: "nominal", title: c.color } } : {};
  const tooltip = [
    { field: c.x, type: c.xType, title: c.xTitle },
    { field: c.y, type: "quantitative", title: yTitle, format: ".3f" },
    { field: "n", type: "quantitative", title: "rewards" },
    ...(c.color ? [{ field: c.color, type: "nominal" }] : []),
  ];
  const layers: unknown[] = [
    {
      mark: { type: "point", filled: true, size: 18, opacity: c.window > 1 ? 0.35 : 0.8 },
      encoding: { x: xEnc, y: { field: c.y, type: "quantitative", title: yTitle }, ...colorEnc, tooltip },
    },
  ];
  if (c.window > 1) {
    layers.push({
      transform: [
        {
          window: [{ op: "mean", field: c.y, as: "rolling_mean" }],
          frame: [-(c.window - 1), 0],
          sort: [{ field: c.x }],
          ...(c.color ? { groupby: [c.color] } : {}),
        },
      ],
      mark: { type: "line", strokeWidth: 2 },
      encoding: { x: xEnc, y: { field: "rolling_mean", type: "quantitative", title: yTitle }, ...colorEnc },
    });
  } else if (c.points.length > 1) {
    layers.push({ mark: { type: "line", strokeWidth: 1.5 }, encoding: { x: xEnc, y: { field: c.y, type: "quantitative" }, ...colorEnc } });
  }
  const subtitle = [
    c.aggregated ? `mean per ${c.xTitle.replace(/ \(UTC\)$/, "")} point` : null,
    c.window > 1 ? `line: rolling mean over ${c.window} points` : null,
  ].filter(Boolean);
  return {
    title: subtitle.length ? { text: title, subtitle: subtitle.join("; ") } : title,
    data: { values: c.points },
    layer: layers,
  } as unknown as TopLevelSpec;
}

function curveSummary(title: string, c: CurveSetup): string {
  const ys = numbers(c.points, c.y);
  const st = stats(ys);
  if (!st) return `${title}: no rewards`;
  const head = `${title}: ${st.n} points over ${c.xTitle}; ${c.y} min ${fmt(st.min)} mean ${fmt(st.mean)} max ${fmt(st.max)}`;
  const k = Math.max(1, Math.min(c.window || 1, ys.length));
  const last = ys.slice(-k);
  return `${head}; last ${k}: mean ${fmt(last.reduce((a, b) => a + b, 0) / last.length)}`;
}

export function rewardCurve(frame: unknown, opts: RewardCurveOptions = {}): Chart {
  const rows = toRows(frame, "charts.rewardCurve");
  const c = setupCurve(rows, opts, "charts.rewardCurve");
  const title = opts.title ?? (c.x === "step" ? "Reward by training step" : c.xType === "temporal" ? "Reward over time" : `Reward by ${c.xTitle}`);
  return chart(curveSpec(c, title, "reward"), { summary: curveSummary(title, c) });
}

// ---------------------------------------------------------------------------
// Reward distribution

export interface RewardDistributionOptions {
  /** Reward column; default "value", else "reward". */
  field?: string;
  /** Column that splits the histogram into overlaid colours, e.g. "dimension" or "resources_id". */
  by?: string;
  dimension?: string;
  /** Most bins (vega-lite picks nice boundaries at or under it). */
  bins?: number;
  title?: string;
}

export function rewardDistribution(frame: unknown, opts: RewardDistributionOptions = {}): Chart {
  const where = "charts.rewardDistribution";
  let rows = toRows(frame, where);
  if (opts.dimension !== undefined) {
    checkField(rows, "dimension", where);
    rows = rows.filter((r) => r.dimension === opts.dimension);
  }
  const field = pickY(rows, opts.field, where);
  if (opts.by) checkField(rows, opts.by, where);
  const bins = opts.bins ?? 20;
  if (!Number.isInteger(bins) || bins < 1) throw new ValidationError(where, [`bins must be a positive integer, got ${bins}`]);
  const values = chartRows(
    rows.filter((r) => Number.isFinite(num(r[field]))),
    opts.by ? [field, opts.by] : [field],
  );
  const title = opts.title ?? "Reward distribution";
  const colorEnc = opts.by ? { color: { field: opts.by, type: "nominal", title: opts.by } } : {};
  const spec = {
    title,
    data: { values },
    mark: { type: "bar", opacity: opts.by ? 0.6 : 0.9, binSpacing: 1 },
    encoding: {
      x: { field, type: "quantitative", bin: { maxbins: bins }, title: "reward" },
      y: { aggregate: "count", type: "quantitative", title: "rewards (count)", stack: null },
      ...colorEnc,
    },
  } as unknown as TopLevelSpec;
  const st = stats(numbers(values, field));
  const summary = st
    ? `${title}: ${st.n} rewards; min ${fmt(st.min)} mean ${fmt(st.mean)} max ${fmt(st.max)}`
    : `${title}: no rewards`;
  return chart(spec, { summary });
}

// ---------------------------------------------------------------------------
// Latency percentiles

export interface LatencyOptions {
  /** Grouping column; default "name" (spans) or "model" (LLM calls). */
  by?: string;
  /** Latency column in ms; default "latency_ms", else "duration_ms". */
  field?: string;
  /** Groups shown, slowest p50 first. */
  top?: number;
  title?: string;
}

export interface LatencyRow {
  group: string;
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50/p90/p99/max of `field` per `by` value, slowest p50 first. */
export function latencyPercentiles(rows: Row[], by: string, field: string): LatencyRow[] {
  const groups = new Map<string, number[]>();
  for (const r of rows) {
    const v = num(r[field]);
    if (!Number.isFinite(v)) continue;
    const k = r[by] === null || r[by] === undefined ? "(none)" : str(r[by]);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(v);
  }
  const out: LatencyRow[] = [];
  for (const [group, vs] of groups) {
    vs.sort((a, b) => a - b);
    out.push({ group, n: vs.length, p50: quantileSorted(vs, 0.5), p90: quantileSorted(vs, 0.9), p99: quantileSorted(vs, 0.99), max: vs[vs.length - 1] });
  }
  return out.sort((a, b) => b.p50 - a.p50);
}

export function latency(frame: unknown, opts: LatencyOptions = {}): Chart {
  const where = "charts.latency";
  const rows = toRows(frame, where);
  const field = opts.field ?? (hasField(rows, "latency_ms") ? "latency_ms" : "duration_ms");
  checkField(rows, field, where);
  const by = opts.by ?? (hasField(rows, "name") ? "name" : hasField(rows, "model") ? "model" : "name");
  checkField(rows, by, where);
  const top = opts.top ?? 20;
  const pct = latencyPercentiles(rows, by, field);
  const shown = pct.slice(0, top);
  const values = shown.flatMap((p) =>
    (["p50", "p90", "p99"] as const).map((q) => ({ [by]: p.group, percentile: q, latency_ms: p[q], n: p.n })),
  );
  const title = opts.title ?? `Latency by ${by}`;
  const spec = {
    title: pct.length > shown.length ? { text: title, subtitle: `slowest ${shown.length} of ${pct.length} by p50` } : title,
    data: { values },
    mark: { type: "bar" },
    encoding: {
      y: { field: by, type: "nominal", sort: shown.map((p) => p.group), title: by },
      yOffset: { field: "percentile", sort: ["p50", "p90", "p99"] },
      x: { field: "latency_ms", type: "quantitative", title: "latency (ms)" },
      color: { field: "percentile", type: "nominal", sort: ["p50", "p90", "p99"], title: "percentile" },
      tooltip: [{ field: by }, { field: "percentile" }, { field: "latency_ms", format: ".1f" }, { field: "n", title: "count" }],
    },
  } as unknown as TopLevelSpec;
  const lines = shown.slice(0, 10).map((p) => `  ${p.group}: n ${p.n}, p50 ${fmt(p.p50)} ms, p90 ${fmt(p.p90)} ms, p99 ${fmt(p.p99)} ms`);
  return chart(spec, { summary: [`${title}: ${pct.length} groups`, ...lines].join("\n") });
}

// ---------------------------------------------------------------------------
// Tokens

export interface TokensOptions {
  /** Grouping column: "rollout_id" (default), "step", "model", "agent_name", ... */
  by?: string;
  /** Most groups shown for a categorical `by` (largest totals first). */
  top?: number;
  title?: string;
}

export function tokens(frame: unknown, opts: TokensOptions = {}): Chart {
  const where = "charts.tokens";
  const rows = toRows(frame, where);
  checkField(rows, "input_tokens", where);
  checkField(rows, "output_tokens", where);
  const by = opts.by ?? (hasField(rows, "step") ? "step" : "rollout_id");
  checkField(rows, by, where);
  const numeric = rows.every((r) => r[by] === null || r[by] === undefined || typeof r[by] === "number");
  const sums = new Map<string, { key: unknown; input: number; output: number; calls: number }>();
  for (const r of rows) {
    const k = r[by] ?? null;
    const key = str(k);
    let s = sums.get(key);
    if (!s) sums.set(key, (s = { key: k, input: 0, output: 0, calls: 0 }));
    const i = num(r.input_tokens);
    const o = num(r.output_tokens);
    if (Number.isFinite(i)) s.input += i;
    if (Number.isFinite(o)) s.output += o;
    s.calls += 1;
  }
  let groups = [...sums.values()];
  const top = opts.top ?? 40;
  let subtitle: string | null = null;
  if (numeric) groups.sort((a, b) => num(a.key) - num(b.key));
  else {
    groups.sort((a, b) => b.input + b.output - (a.input + a.output));
    if (groups.length > top) {
      subtitle = `largest ${top} of ${groups.length} by total tokens`;
      groups = groups.slice(0, top);
    }
  }
  const values = groups.flatMap((g) => [
    { [by]: numeric ? g.key : str(g.key), kind: "input", tokens: g.input, calls: g.calls },
    { [by]: numeric ? g.key : str(g.key), kind: "output", tokens: g.output, calls: g.calls },
  ]);
  const title = opts.title ?? `Tokens by ${by === "rollout_id" ? "rollout" : by}`;
  const xEnc = numeric
    ? { field: by, type: "quantitative", title: X_TITLES[by] ?? by }
    : { field: by, type: "nominal", sort: groups.map((g) => str(g.key)), title: by, axis: { labelLimit: 90, labelAngle: -45 } };
  const spec = {
    title: subtitle ? { text: title, subtitle } : title,
    data: { values },
    mark: numeric && groups.length > 60 ? { type: "area", opacity: 0.8 } : { type: "bar" },
    encoding: {
      x: xEnc,
      y: { field: "tokens", type: "quantitative", stack: "zero", title: "tokens (sum)" },
      color: { field: "kind", type: "nominal", title: "tokens", sort: ["input", "output"] },
      tooltip: [{ field: by }, { field: "kind" }, { field: "tokens" }, { field: "calls", title: "LLM calls" }],
    },
  } as unknown as TopLevelSpec;
  const totalIn = [...sums.values()].reduce((a, g) => a + g.input, 0);
  const totalOut = [...sums.values()].reduce((a, g) => a + g.output, 0);
  const calls = [...sums.values()].reduce((a, g) => a + g.calls, 0);
  return chart(spec, {
    summary: `${title}: ${sums.size} groups, ${calls} LLM calls; input tokens ${totalIn}, output tokens ${totalOut}, mean per call ${fmt((totalIn + totalOut) / Math.max(1, calls))}`,
  });
}

// ---------------------------------------------------------------------------
// Comparing runs

export interface CompareRunsOptions extends Omit<RewardCurveOptions, "color"> {
  /** Column naming the run when a single frame is given; default "run". */
  runField?: string;
}

/** Reward curves of several runs in one chart: `compareRuns({ baseline: f1, tuned: f2 })` or one frame with a run column. */
export function compareRuns(runs: unknown, opts: CompareRunsOptions = {}): Chart {
  const where = "charts.compareRuns";
  const runField = opts.runField ?? "run";
  let rows: Row[];
  if (typeof runs === "object" && runs !== null && !Array.isArray(runs) && !("numRows" in runs)) {
    const entries = Object.entries(runs as Record<string, unknown>);
    if (entries.length === 0) throw new ValidationError(where, ["give at least one run"]);
    rows = entries.flatMap(([name, f]) => toRows(f, `${where}(${name})`).map((r) => ({ ...r, [runField]: name })));
  } else {
    rows = toRows(runs, where);
    checkField(rows, runField, where);
  }
  const c = setupCurve(rows, { ...opts, color: runField }, where);
  const title = opts.title ?? `Reward by ${c.x === "step" ? "training step" : c.xTitle}, per run`;
  const summary = () => {
    const lines = distinct(c.points, runField).map((run) => {
      const ys = numbers(c.points.filter((p) => p[runField] === run), c.y);
      const st = stats(ys);
      const k = Math.max(1, Math.min(c.window || 1, ys.length));
      const last = ys.slice(-k);
      return st
        ? `  ${str(run)}: ${st.n} points, mean ${fmt(st.mean)}, last ${k} mean ${fmt(last.reduce((a, b) => a + b, 0) / last.length)}`
        : `  ${str(run)}: no rewards`;
    });
    return [`${title}: ${lines.length} runs`, ...lines].join("\n");
  };
  return chart(curveSpec(c, title, "reward"), { summary: summary() });
}

// ---------------------------------------------------------------------------
// Reward agreement (old vs new reward of a rescore)

export interface RewardAgreementOptions {
  /** Default "old_reward". */
  old?: string;
  /** Default "new_reward". */
  new?: string;
  /** Row label in the disagreement list; default "rollout_id". */
  id?: string;
  /** How many disagreeing rollouts to list. */
  top?: number;
  title?: string;
}

export interface Disagreement {
  id: string;
  old: number | null;
  new: number | null;
  diff: number;
}

/** A chart that also carries the rollouts where the two rewards disagree most. */
export class AgreementChart extends Chart {
  constructor(
    spec: TopLevelSpec,
    summary: string,
    readonly disagreements: Disagreement[],
    readonly agreement: { n: number; pearson: number | null; exactMatch: number; meanAbsDiff: number },
  ) {
    super(spec, { summary });
  }
}

function pearson(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

export function rewardAgreement(frame: unknown, opts: RewardAgreementOptions = {}): AgreementChart {
  const where = "charts.rewardAgreement";
  const rows = toRows(frame, where);
  const oldF = opts.old ?? "old_reward";
  const newF = opts.new ?? "new_reward";
  const idF = opts.id ?? "rollout_id";
  for (const f of [oldF, newF, idF]) checkField(rows, f, where);
  const top = opts.top ?? 10;
  const pairs = rows.map((r) => ({ id: str(r[idF]), old: num(r[oldF]), new: num(r[newF]) }));
  const both = pairs.filter((p) => Number.isFinite(p.old) && Number.isFinite(p.new));
  // A reward on one side only is the strongest disagreement there is: list it first.
  const disagreements: Disagreement[] = pairs
    .map((p) => {
      const o = Number.isFinite(p.old) ? p.old : null;
      const n = Number.isFinite(p.new) ? p.new : null;
      return { id: p.id, old: o, new: n, diff: o !== null && n !== null ? n - o : Infinity };
    })
    .filter((d) => d.diff !== 0 && !(d.old === null && d.new === null))
    .sort((a, b) => Math.abs(b.diff) - Math.abs(a.diff))
    .slice(0, top);
  const olds = both.map((p) => p.old);
  const news = both.map((p) => p.new);
  const r = pearson(olds, news);
  const exact = both.filter((p) => p.old === p.new).length / Math.max(1, both.length);
  const mad = both.reduce((a, p) => a + Math.abs(p.new - p.old), 0) / Math.max(1, both.length);
  const discrete = new Set(olds).size <= 6 && new Set(news).size <= 6;
  const title = opts.title ?? "Old vs new reward";
  const subtitle = `${both.length} rollouts; ${r === null ? "" : `Pearson r ${fmt(r)}; `}exact agreement ${(exact * 100).toFixed(1)}%`;

  let main: Record<string, unknown>;
  if (discrete) {
    const cells = new Map<string, { old: number; new: number; count: number }>();
    for (const p of both) {
      const k = `${p.old}\u0000${p.new}`;
      const c = cells.get(k);
      if (c) c.count += 1;
      else cells.set(k, { old: p.old, new: p.new, count: 1 });
    }
    main = {
      data: { values: [...cells.values()] },
      width: 260,
      height: 260,
      encoding: {
        x: { field: "old", type: "ordinal", title: `old reward (${oldF})`, axis: { labelAngle: 0 } },
        y: { field: "new", type: "ordinal", title: `new reward (${newF})`, sort: "descending" },
      },
      layer: [
        {
          mark: "rect",
          encoding: { color: { field: "count", type: "quantitative", title: "rollouts", scale: { scheme: "blues" }, legend: { orient: "bottom" } } },
        },
        {
          mark: { type: "text", fontSize: 13 },
          encoding: {
            text: { field: "count", type: "quantitative" },
            // Light text on the darker half of the scale, so every count stays legible.
            color: { condition: { test: `datum.count > ${Math.max(...[...cells.values()].map((x) => x.count)) / 2}`, value: "white" }, value: "black" },
          },
        },
      ],
    };
  } else {
    const lo = Math.min(...olds, ...news);
    const hi = Math.max(...olds, ...news);
    main = {
      width: 280,
      height: 280,
      layer: [
        {
          data: { values: both.map((p) => ({ [idF]: p.id, old: p.old, new: p.new })) },
          mark: { type: "point", filled: true, opacity: 0.6 },
          encoding: {
            x: { field: "old", type: "quantitative", title: `old reward (${oldF})` },
            y: { field: "new", type: "quantitative", title: `new reward (${newF})` },
            tooltip: [{ field: idF }, { field: "old" }, { field: "new" }],
          },
        },
        {
          data: { values: both.length ? [{ old: lo, new: lo }, { old: hi, new: hi }] : [] },
          mark: { type: "line", strokeDash: [4, 4], color: "gray" },
          encoding: { x: { field: "old", type: "quantitative" }, y: { field: "new", type: "quantitative" } },
        },
      ],
    };
  }
  const listRows = disagreements.map((d, i) => ({
    rank: i,
    line: `${d.id}: ${d.old === null ? "none" : fmt(d.old)} -> ${d.new === null ? "none" : fmt(d.new)}`,
  }));
  const list = {
    title: { text: "largest disagreements", fontSize: 12 },
    data: { values: listRows.length ? listRows : [{ rank: 0, line: "(none: the rewards agree)" }] },
    width: 240,
    height: Math.max(40, 18 * Math.max(1, listRows.length)),
    mark: { type: "text", align: "left", fontSize: 11, limit: 236 },
    encoding: {
      y: { field: "rank", type: "ordinal", axis: null },
      x: { value: 0 },
      text: { field: "line" },
    },
  };
  const spec = { title: { text: title, subtitle }, hconcat: [main, list], config: { view: { stroke: null } } } as unknown as TopLevelSpec;
  const summary = [
    `${title}: ${subtitle}; mean |new - old| ${fmt(mad)}`,
    disagreements.length ? "largest disagreements:" : "no disagreements",
    ...listRows.map((l) => `  ${l.line}`),
  ].join("\n");
  const c = chart(spec, { summary });
  return new AgreementChart(c.spec, summary, disagreements, { n: both.length, pearson: r, exactMatch: exact, meanAbsDiff: mad }).validate();
}

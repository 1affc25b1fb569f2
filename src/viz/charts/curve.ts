// Reward curves, shared by rewardCurve and compareRuns: rewards averaged per
// x value (and bucketed when there are too many), drawn as points with a
// rolling mean.

import { ValidationError } from "../../types/errors.js";
import { fmt, hasField, numbers, stats, type Row } from "../data.js";
import { checkField, distinct, num, pickY, str, X_TITLES } from "./common.js";
import type { ColorEncoding, Layer, PositionField, TooltipField, TopLevelSpec } from "./vega-types.js";

/** Most points a curve embeds; denser curves are averaged into this many buckets along x. */
const MAX_CURVE_POINTS = 2000;

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

/** A curve ready to draw: aggregated points and the encodings chosen for them. */
export interface CurveSetup {
  points: Row[];
  x: string;
  xType: "quantitative" | "temporal";
  xTitle: string;
  y: string;
  color: string | null;
  window: number;
  aggregated: boolean;
}

/** The x column: the one asked for, else step, then time columns, then row order. */
function pickX(rows: Row[], x: string | undefined): string {
  if (x) return x;
  if (hasField(rows, "step")) return "step";
  if (hasField(rows, "time")) return "time";
  if (hasField(rows, "start_time")) return "start_time";
  return "index";
}

/** Mean of y per (x, color), then averaged into buckets when there are too many x values. */
function curvePoints(rows: Row[], x: string, y: string, color: string | null, temporal: boolean): { points: Row[]; aggregated: boolean } {
  const groups = new Map<string, { x: number; c: unknown; sum: number; n: number }>();
  rows.forEach((r, i) => {
    const xv = x === "index" ? i : num(r[x]);
    const yv = num(r[y]);
    if (!Number.isFinite(xv) || !Number.isFinite(yv)) return;
    const c = color ? (r[color] ?? null) : null;
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

/** Filters, picks x, y and colour, aggregates the points and sizes the rolling window. */
export function setupCurve(rows: Row[], opts: RewardCurveOptions, where: string): CurveSetup {
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

/** Points of each curve, plus a rolling-mean line (or a plain line when the window is 1). */
export function curveSpec(c: CurveSetup, title: string, yTitle: string): TopLevelSpec {
  const xEnc: PositionField = { field: c.x, type: c.xType, title: c.xTitle };
  if (c.xType === "temporal") xEnc.scale = { type: "utc" };
  else if (c.points.length && c.points.every((p) => Number.isInteger(p[c.x]))) {
    // Steps are whole numbers: no 0.5 ticks, and the axis starts where the run does.
    xEnc.axis = { tickMinStep: 1, format: "d" };
    xEnc.scale = { zero: false };
  }
  const colorEnc: ColorEncoding = c.color ? { color: { field: c.color, type: "nominal", title: c.color } } : {};
  const tooltip: TooltipField[] = [
    { field: c.x, type: c.xType, title: c.xTitle },
    { field: c.y, type: "quantitative", title: yTitle, format: ".3f" },
    { field: "n", type: "quantitative", title: "rewards" },
    ...(c.color ? [{ field: c.color, type: "nominal" } satisfies TooltipField] : []),
  ];
  const layers: Layer[] = [
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
  };
}

/** The text form of a curve: range of the reward and the mean of the last window. */
export function curveSummary(title: string, c: CurveSetup): string {
  const ys = numbers(c.points, c.y);
  const st = stats(ys);
  if (!st) return `${title}: no rewards`;
  const head = `${title}: ${st.n} points over ${c.xTitle}; ${c.y} min ${fmt(st.min)} mean ${fmt(st.mean)} max ${fmt(st.max)}`;
  const k = Math.max(1, Math.min(c.window || 1, ys.length));
  const last = ys.slice(-k);
  return `${head}; last ${k}: mean ${fmt(last.reduce((a, b) => a + b, 0) / last.length)}`;
}

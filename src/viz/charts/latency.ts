// latency: latency percentiles per group.

import { chart, type Chart } from "../chart.js";
import { fmt, hasField, quantileSorted, toRows, type Row } from "../data.js";
import { checkField, num, str } from "./common.js";
import type { TopLevelSpec } from "./vega-types.js";

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
    out.push({
      group,
      n: vs.length,
      p50: quantileSorted(vs, 0.5),
      p90: quantileSorted(vs, 0.9),
      p99: quantileSorted(vs, 0.99),
      max: vs[vs.length - 1],
    });
  }
  return out.sort((a, b) => b.p50 - a.p50);
}

/** p50, p90 and p99 latency per span name (or model), slowest p50 first, as grouped bars. */
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
  const spec: TopLevelSpec = {
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
  };
  const lines = shown.slice(0, 10).map((p) => `  ${p.group}: n ${p.n}, p50 ${fmt(p.p50)} ms, p90 ${fmt(p.p90)} ms, p99 ${fmt(p.p99)} ms`);
  return chart(spec, { summary: [`${title}: ${pct.length} groups`, ...lines].join("\n") });
}

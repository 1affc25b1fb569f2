// rewardAgreement: how far a rescore's new rewards agree with the old ones.

import { Chart, chart } from "../chart.js";
import { fmt, toRows } from "../data.js";
import { checkField, num, str } from "./common.js";
import type { TopLevelSpec, View } from "./vega-types.js";

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

/** Pearson correlation, or null when either side is constant or there are fewer than two pairs. */
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

/**
 * Old vs new reward of a rescore: a heatmap of counts when both take few
 * values, else a scatter with the diagonal; beside it the rollouts that
 * disagree most (a reward on one side only first). The returned chart also
 * carries those rollouts and the agreement statistics.
 */
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

  let main: View;
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
          encoding: {
            color: { field: "count", type: "quantitative", title: "rollouts", scale: { scheme: "blues" }, legend: { orient: "bottom" } },
          },
        },
        {
          mark: { type: "text", fontSize: 13 },
          encoding: {
            text: { field: "count", type: "quantitative" },
            // Light text on the darker half of the scale, so every count stays legible.
            color: {
              condition: { test: `datum.count > ${Math.max(...[...cells.values()].map((x) => x.count)) / 2}`, value: "white" },
              value: "black",
            },
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
          data: {
            values: both.length
              ? [
                  { old: lo, new: lo },
                  { old: hi, new: hi },
                ]
              : [],
          },
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
  const list: View = {
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
  const spec: TopLevelSpec = { title: { text: title, subtitle }, hconcat: [main, list], config: { view: { stroke: null } } };
  const summary = [
    `${title}: ${subtitle}; mean |new - old| ${fmt(mad)}`,
    disagreements.length ? "largest disagreements:" : "no disagreements",
    ...listRows.map((l) => `  ${l.line}`),
  ].join("\n");
  const c = chart(spec, { summary });
  return new AgreementChart(c.spec, summary, disagreements, { n: both.length, pearson: r, exactMatch: exact, meanAbsDiff: mad }).validate();
}

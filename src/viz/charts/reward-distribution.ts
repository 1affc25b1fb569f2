// rewardDistribution: a histogram of rewards.

import { ValidationError } from "../../types/errors.js";
import { chart, type Chart } from "../chart.js";
import { chartRows, fmt, numbers, stats, toRows } from "../data.js";
import { checkField, num, pickY } from "./common.js";
import type { ColorEncoding, TopLevelSpec } from "./vega-types.js";

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

/** Histogram of reward values, overlaid per group with `by` (a dimension, a resources version, ...). */
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
  const colorEnc: ColorEncoding = opts.by ? { color: { field: opts.by, type: "nominal", title: opts.by } } : {};
  const spec: TopLevelSpec = {
    title,
    data: { values },
    mark: { type: "bar", opacity: opts.by ? 0.6 : 0.9, binSpacing: 1 },
    encoding: {
      x: { field, type: "quantitative", bin: { maxbins: bins }, title: "reward" },
      y: { aggregate: "count", type: "quantitative", title: "rewards (count)", stack: null },
      ...colorEnc,
    },
  };
  const st = stats(numbers(values, field));
  const summary = st ? `${title}: ${st.n} rewards; min ${fmt(st.min)} mean ${fmt(st.mean)} max ${fmt(st.max)}` : `${title}: no rewards`;
  return chart(spec, { summary });
}

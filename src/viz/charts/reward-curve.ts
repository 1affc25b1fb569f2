// rewardCurve: reward by training step (or wall clock, or row order).

import { chart, type Chart } from "../chart.js";
import { toRows } from "../data.js";
import { curveSpec, curveSummary, setupCurve, type RewardCurveOptions } from "./curve.js";

export type { RewardCurveOptions } from "./curve.js";

/**
 * Reward by training step: the mean per step as points and a rolling mean as
 * a line, one curve per reward dimension when a rewards frame has several.
 * Falls back to wall-clock time, then row order, when there is no step.
 */
export function rewardCurve(frame: unknown, opts: RewardCurveOptions = {}): Chart {
  const rows = toRows(frame, "charts.rewardCurve");
  const c = setupCurve(rows, opts, "charts.rewardCurve");
  const title =
    opts.title ?? (c.x === "step" ? "Reward by training step" : c.xType === "temporal" ? "Reward over time" : `Reward by ${c.xTitle}`);
  return chart(curveSpec(c, title, "reward"), { summary: curveSummary(title, c) });
}

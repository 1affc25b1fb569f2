// compareRuns: the reward curves of several runs in one chart.

import { ValidationError } from "../../types/errors.js";
import { chart, type Chart } from "../chart.js";
import { fmt, numbers, stats, toRows, type Row } from "../data.js";
import { checkField, distinct, str } from "./common.js";
import { curveSpec, setupCurve, type RewardCurveOptions } from "./curve.js";

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
      const ys = numbers(
        c.points.filter((p) => p[runField] === run),
        c.y,
      );
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

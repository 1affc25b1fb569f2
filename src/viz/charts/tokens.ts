// tokens: tokens per group, input and output stacked.

import { chart, type Chart } from "../chart.js";
import { fmt, hasField, toRows } from "../data.js";
import { checkField, num, str, X_TITLES } from "./common.js";
import type { PositionField, TopLevelSpec } from "./vega-types.js";

export interface TokensOptions {
  /** Grouping column: "rollout_id" (default), "step", "model", "agent_name", ... */
  by?: string;
  /** Most groups shown for a categorical `by` (largest totals first). */
  top?: number;
  title?: string;
}

/**
 * Input and output tokens summed per rollout (or step, model, agent), stacked;
 * a numeric grouping draws an axis (an area past 60 groups), a categorical one
 * the largest `top` groups.
 */
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
  const xEnc: PositionField = numeric
    ? { field: by, type: "quantitative", title: X_TITLES[by] ?? by }
    : { field: by, type: "nominal", sort: groups.map((g) => str(g.key)), title: by, axis: { labelLimit: 90, labelAngle: -45 } };
  const spec: TopLevelSpec = {
    title: subtitle ? { text: title, subtitle } : title,
    data: { values },
    mark: numeric && groups.length > 60 ? { type: "area", opacity: 0.8 } : { type: "bar" },
    encoding: {
      x: xEnc,
      y: { field: "tokens", type: "quantitative", stack: "zero", title: "tokens (sum)" },
      color: { field: "kind", type: "nominal", title: "tokens", sort: ["input", "output"] },
      tooltip: [{ field: by }, { field: "kind" }, { field: "tokens" }, { field: "calls", title: "LLM calls" }],
    },
  };
  const totalIn = [...sums.values()].reduce((a, g) => a + g.input, 0);
  const totalOut = [...sums.values()].reduce((a, g) => a + g.output, 0);
  const calls = [...sums.values()].reduce((a, g) => a + g.calls, 0);
  return chart(spec, {
    summary: `${title}: ${sums.size} groups, ${calls} LLM calls; input tokens ${totalIn}, output tokens ${totalOut}, mean per call ${fmt((totalIn + totalOut) / Math.max(1, calls))}`,
  });
}

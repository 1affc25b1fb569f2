// The demo's HTML report: before/after numbers, the reward curve as inline
// SVG (opens anywhere, no scripts), and what reproduces the run.
import { charts } from "../viz/index.js";
import type { GrpoStepMetrics } from "../algorithm/grpo.js";
import type { RunInfo } from "../display/run-info.js";

export interface DemoReport {
  before: number | null;
  after: number | null;
  history: readonly GrpoStepMetrics[];
  seconds: number;
  config: Record<string, unknown>;
  runInfo: RunInfo;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? "n/a" : x.toFixed(digits));

/** Rows for `charts.rewardCurve`: the sampled train reward of every step, and the greedy val reward where measured. */
export function curveRows(
  history: readonly GrpoStepMetrics[],
  before: number | null,
  after: number | null,
): { step: number; reward: number; series: string }[] {
  const rows = history.map((m) => ({ step: m.step, reward: m.rewardMean, series: "train (sampled)" }));
  const first = history.length ? history[0].step - 1 : 0;
  if (before !== null) rows.push({ step: first, reward: before, series: "val (greedy)" });
  for (const m of history)
    if (m.valReward !== undefined && m.valReward !== null) rows.push({ step: m.step, reward: m.valReward, series: "val (greedy)" });
  if (after !== null && history.length) rows.push({ step: history.at(-1)!.step, reward: after, series: "val (greedy)" });
  return rows;
}

export function renderReport(r: DemoReport): string {
  const curve = charts.rewardCurve(curveRows(r.history, r.before, r.after), {
    x: "step",
    y: "reward",
    color: "series",
    window: 1,
    title: "Reward by GRPO step",
  });
  const sum = (k: "generateSeconds" | "collectSeconds" | "trainSeconds" | "stepSeconds") => r.history.reduce((s, m) => s + m[k], 0);
  const gen = sum("generateSeconds"),
    collect = sum("collectSeconds"),
    train = sum("trainSeconds"),
    step = sum("stepSeconds");
  const rows = [
    ["validation reward before", num(r.before)],
    ["validation reward after", num(r.after)],
    ["GRPO steps", String(r.history.length)],
    [
      "wall time",
      `${r.seconds.toFixed(1)} s (rollouts ${gen.toFixed(1)} s, reading spans ${collect.toFixed(1)} s, training ${train.toFixed(1)} s, other ${(step - gen - collect - train).toFixed(1)} s)`,
    ],
    ...Object.entries(r.config).map(([k, v]) => [k, JSON.stringify(v)]),
    ["arclight", r.runInfo.arclightVersion],
    ["node", r.runInfo.nodeVersion],
    ["seeds", JSON.stringify(r.runInfo.seeds)],
    ["date", r.runInfo.date],
  ];
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Arclight demo: GRPO on addition</title>
<style>body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}td{padding:2px 12px 2px 0;vertical-align:top}td:first-child{color:#666}</style></head>
<body>
<h1>Arclight demo: an unchanged agent learns addition</h1>
<p>A plain <code>openai</code>-client agent answers <code>a+b=</code> through Arclight's LLM proxy, served by a tiny native policy trained with GRPO.
Validation reward is the mean over the whole task set with greedy decoding.</p>
<p><b>validation reward: before ${num(r.before)} -&gt; after ${num(r.after)}</b></p>
${curve.toSVG()}
<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("\n")}</table>
</body></html>
`;
}

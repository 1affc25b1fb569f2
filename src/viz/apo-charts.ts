// Charts of a prompt-optimization run: every candidate's score by round with
// its interval (the beam's head as a line), and the word diff between the
// first prompt and the best one. Both take plain rows (an APO run read back
// with agl.algorithms.apo.history, or frames of its spans).
import { diffWordsWithSpace } from "diff";
import { DISPLAY, type Displayable, type MimeBundle } from "../display/protocol.js";
import { ValidationError } from "../types/errors.js";
import { chart, type Chart } from "./chart.js";
import { toRows, type Row } from "./data.js";

/** What apoScores needs of each score row (agl.algorithms.apo.history(store).scores). */
export interface ScoreRowLike {
  round: number;
  candidate: string;
  mean: number | null;
  lo: number;
  hi: number;
  n: number;
  inBeam?: boolean;
  eliminatedInRound?: number | null;
}

/** What apoScores needs of each round row (agl.algorithms.apo.history(store).rounds). */
export interface RoundRowLike {
  round: number;
  best: string;
  bestMean: number;
  bestLo: number;
  bestHi: number;
}

export interface ApoScoresOptions {
  title?: string;
}

const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : NaN);

/** Score by round: each candidate's mean and interval (dimmed when it dropped out of the race), the best prompt as a line. */
export function apoScores(run: { scores: unknown; rounds: unknown }, opts: ApoScoresOptions = {}): Chart {
  if (!run || typeof run !== "object")
    throw new ValidationError("charts.apoScores", ["pass an APO run: agl.algorithms.apo.history(store)"]);
  const scores = toRows(run.scores, "charts.apoScores(scores)");
  const rounds = toRows(run.rounds, "charts.apoScores(rounds)");
  const need = (rows: Row[], cols: string[], what: string) => {
    if (rows.length && !cols.every((c) => c in rows[0]))
      throw new ValidationError("charts.apoScores", [
        `${what} rows need columns ${cols.join(", ")}; got ${Object.keys(rows[0]).join(", ")}`,
      ]);
  };
  need(scores, ["round", "candidate", "mean", "lo", "hi"], "scores");
  need(rounds, ["round", "best", "bestMean", "bestLo", "bestHi"], "rounds");
  const bestOf = new Map(rounds.map((r) => [num(r.round), String(r.best)]));
  const points: Row[] = scores
    .filter((s) => Number.isFinite(num(s.mean)))
    .map((s) => ({
      round: num(s.round),
      candidate: String(s.candidate),
      mean: num(s.mean),
      lo: num(s.lo),
      hi: num(s.hi),
      n: num(s.n),
      role:
        bestOf.get(num(s.round)) === String(s.candidate)
          ? "best"
          : s.inBeam
            ? "kept in beam"
            : s.eliminatedInRound !== null && s.eliminatedInRound !== undefined
              ? "dropped early"
              : "raced to the end",
    }));
  // The best prompt sits on its round; the others fan out beside it, so the line runs through the best.
  const byRound = new Map<number, Row[]>();
  for (const p of points) byRound.set(p.round as number, [...(byRound.get(p.round as number) ?? []), p]);
  for (const ps of byRound.values()) {
    const others = ps.filter((p) => p.role !== "best").sort((a, b) => String(a.candidate).localeCompare(String(b.candidate)));
    const step = Math.min(0.12, 0.4 / Math.max(1, Math.ceil(others.length / 2)));
    others.forEach((p, i) => (p.x = (p.round as number) + (i % 2 ? -1 : 1) * step * (Math.floor(i / 2) + 1)));
    for (const p of ps) if (p.role === "best") p.x = p.round;
  }
  const line: Row[] = rounds.map((r) => ({
    x: num(r.round),
    mean: num(r.bestMean),
    lo: num(r.bestLo),
    hi: num(r.bestHi),
    candidate: String(r.best),
  }));
  const last = Math.max(0, ...line.map((l) => l.x as number), ...points.map((p) => p.round as number));
  const x = {
    field: "x",
    type: "quantitative",
    title: "round",
    scale: { domain: [-0.5, last + 0.5], nice: false },
    axis: { tickMinStep: 1, format: "d", grid: false },
  };
  const color = {
    field: "role",
    type: "nominal",
    title: null,
    scale: { domain: ["best", "kept in beam", "raced to the end", "dropped early"], range: ["#d62728", "#1f77b4", "#7f7f7f", "#c7c7c7"] },
    legend: { orient: "bottom" },
  };
  return chart(
    {
      title: opts.title ?? "Prompt score by round (mean and interval)",
      width: 480,
      height: 240,
      layer: [
        {
          data: { values: points },
          layer: [
            {
              mark: { type: "rule", strokeWidth: 1.5 },
              encoding: { x, y: { field: "lo", type: "quantitative", title: "validation reward" }, y2: { field: "hi" }, color },
            },
            {
              mark: { type: "point", filled: true, size: 45 },
              encoding: {
                x,
                y: { field: "mean", type: "quantitative" },
                color,
                tooltip: [
                  { field: "candidate" },
                  { field: "mean", format: ".3f" },
                  { field: "lo", format: ".3f" },
                  { field: "hi", format: ".3f" },
                  { field: "n" },
                ],
              },
            },
          ],
        },
        {
          data: { values: line },
          mark: { type: "line", color: "#d62728", strokeDash: [4, 3], opacity: 0.7 },
          encoding: { x, y: { field: "mean", type: "quantitative" } },
        },
      ],
    },
    {
      summary: () =>
        `${opts.title ?? "prompt score by round"}: ${line.map((l) => `round ${l.x} best ${l.candidate} ${fmt(l.mean as number)} [${fmt(l.lo as number)}, ${fmt(l.hi as number)}]`).join("; ")}`,
    },
  );
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A word diff of two prompts that displays as marked-up HTML (and git-style word diff as text). */
export class PromptDiff implements Displayable {
  readonly parts: { value: string; added: boolean; removed: boolean }[];
  constructor(
    readonly before: string,
    readonly after: string,
    readonly title: string,
  ) {
    this.parts = diffWordsWithSpace(before, after).map((p) => ({ value: p.value, added: !!p.added, removed: !!p.removed }));
  }

  get added(): number {
    return this.parts.filter((p) => p.added).reduce((s, p) => s + p.value.split(/\s+/).filter(Boolean).length, 0);
  }

  get removed(): number {
    return this.parts.filter((p) => p.removed).reduce((s, p) => s + p.value.split(/\s+/).filter(Boolean).length, 0);
  }

  toString(): string {
    const body = this.parts.map((p) => (p.added ? `{+${p.value}+}` : p.removed ? `[-${p.value}-]` : p.value)).join("");
    return `${this.title} (+${this.added} words, -${this.removed} words)\n${body}`;
  }

  toHTML(): string {
    const body = this.parts
      .map((p) =>
        p.added
          ? `<ins style="background:#d4f7d4;text-decoration:none">${esc(p.value)}</ins>`
          : p.removed
            ? `<del style="background:#fbd5d5">${esc(p.value)}</del>`
            : esc(p.value),
      )
      .join("");
    return (
      `<div class="arclight-prompt-diff"><div style="font-weight:600">${esc(this.title)} <span style="font-weight:normal;color:#555">(+${this.added} words, -${this.removed} words)</span></div>` +
      `<pre style="white-space:pre-wrap;font-family:ui-monospace,monospace;border:1px solid #ddd;padding:8px">${body}</pre></div>`
    );
  }

  [DISPLAY](): MimeBundle {
    return { "text/html": this.toHTML(), "text/plain": this.toString() };
  }
}

/**
 * The diff between two prompts: `promptDiff(first, best)`, or `promptDiff(run)` for an APO run's
 * first prompt against its best.
 */
export function promptDiff(
  a: string | { rounds: readonly { bestTemplate: string; best: string; round: number }[] },
  b?: string,
  opts: { title?: string } = {},
): PromptDiff {
  if (typeof a === "string") {
    if (typeof b !== "string") throw new ValidationError("charts.promptDiff", ["pass two prompts (before, after) or an APO run"]);
    return new PromptDiff(a, b, opts.title ?? "Prompt diff");
  }
  const rounds = a?.rounds;
  if (!Array.isArray(rounds) || !rounds.length) throw new ValidationError("charts.promptDiff", ["the run has no finished rounds"]);
  const first = rounds[0];
  const last = rounds[rounds.length - 1];
  return new PromptDiff(
    first.bestTemplate,
    last.bestTemplate,
    opts.title ?? `First prompt (${first.best}) -> best prompt (${last.best}, round ${last.round})`,
  );
}

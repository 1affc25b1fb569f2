// Summaries researchers reach for: per-rollout summary, reward by step,
// latency percentiles per span name, two runs side by side.

import * as aq from "arquero";
import type { ColumnTable } from "arquero";
import { ValidationError } from "../types/errors.js";
import { ColumnBuilder } from "./columns.js";
import { checkColumns, isLlmRecord, rewards, rolloutContexts } from "./frames.js";
import { checkSource, filterSql, loadSpans, loadState, parseFilter, type FrameSource, type SpanFilter } from "./source.js";
import { sql } from "./sql.js";
import { declareColumnTypes, isArqueroTable } from "../types/table.js";

const op = aq.op;

/**
 * One row per rollout: status, step, final reward (primary value of the
 * last reward span of its latest attempt), LLM calls, tokens, spans and
 * duration. A directory is aggregated per attempt by DuckDB first; its LLM
 * calls are counted by the same rule as frames.llmCalls (semconv.ts).
 */
export async function rolloutSummary(source: FrameSource): Promise<ColumnTable> {
  const src = checkSource(source, "frames.rolloutSummary");
  const ctx = rolloutContexts(await loadState(src));
  interface Acc {
    spans: number;
    llm: number;
    inTok: number;
    outTok: number;
    reward: number | null;
    rewardKey: [number, number];
    first: number;
    last: number;
  }
  const acc = new Map<string, Acc>();
  const fold = (
    rolloutId: string,
    attemptId: string,
    part: Omit<Acc, "reward" | "rewardKey"> & { reward: number | null; rewardSeq: number },
  ) => {
    const c = ctx.get(rolloutId);
    const latest = c?.attempts.at(-1);
    // Spans of earlier attempts still count as work done; the reward comes from the latest attempt only.
    let a = acc.get(rolloutId);
    if (!a)
      acc.set(
        rolloutId,
        (a = { spans: 0, llm: 0, inTok: 0, outTok: 0, reward: null, rewardKey: [-1, -1], first: Infinity, last: -Infinity }),
      );
    a.spans += part.spans;
    a.llm += part.llm;
    a.inTok += part.inTok;
    a.outTok += part.outTok;
    a.first = Math.min(a.first, part.first);
    a.last = Math.max(a.last, part.last);
    if (part.reward !== null && (!latest || latest.attemptId === attemptId)) {
      const seq = c?.attempts.find((x) => x.attemptId === attemptId)?.sequenceId ?? 0;
      if (seq > a.rewardKey[0] || (seq === a.rewardKey[0] && part.rewardSeq > a.rewardKey[1])) {
        a.reward = part.reward;
        a.rewardKey = [seq, part.rewardSeq];
      }
    }
  };
  if (typeof src === "string") {
    // One row per attempt from DuckDB: a million spans never cross into JS (bench/frames).
    const t = await sql(
      src,
      `SELECT rollout_id, attempt_id, count(*) AS spans,
              count(*) FILTER (WHERE is_llm_call) AS llm,
              coalesce(sum(input_tokens), 0) AS in_tok, coalesce(sum(output_tokens), 0) AS out_tok,
              min(epoch_us(start_time)) AS first_us, max(epoch_us(end_time)) AS last_us,
              arg_max(reward, sequence_id) FILTER (WHERE reward IS NOT NULL) AS reward,
              max(sequence_id) FILTER (WHERE reward IS NOT NULL) AS reward_seq
       FROM spans GROUP BY rollout_id, attempt_id`,
    );
    for (const r of t.objects() as Record<string, unknown>[]) {
      fold(r.rollout_id as string, r.attempt_id as string, {
        spans: Number(r.spans),
        llm: Number(r.llm),
        inTok: Number(r.in_tok),
        outTok: Number(r.out_tok),
        first: Number(r.first_us) / 1000,
        last: Number(r.last_us) / 1000,
        reward: typeof r.reward === "number" ? r.reward : null,
        rewardSeq: r.reward_seq === null ? -1 : Number(r.reward_seq),
      });
    }
  } else {
    // A store's spans are in memory already, attributes included: the LLM-call rule needs them.
    for (const r of await loadSpans(src, parseFilter({}, "frames.rolloutSummary"), { attributes: true })) {
      const isLlm = isLlmRecord(r);
      fold(r.rolloutId, r.attemptId, {
        spans: 1,
        llm: isLlm ? 1 : 0,
        inTok: r.inputTokens ?? 0,
        outTok: r.outputTokens ?? 0,
        first: r.startTime,
        last: r.endTime,
        reward: r.reward,
        rewardSeq: r.sequenceId,
      });
    }
  }
  const b = new ColumnBuilder([
    { name: "rollout_id", kind: "string" },
    { name: "status", kind: "string" },
    { name: "step", kind: "int" },
    { name: "resources_id", kind: "string" },
    { name: "final_reward", kind: "float64" },
    { name: "llm_calls", kind: "int" },
    { name: "input_tokens", kind: "int" },
    { name: "output_tokens", kind: "int" },
    { name: "total_tokens", kind: "int" },
    { name: "spans", kind: "int" },
    { name: "attempts", kind: "int" },
    { name: "duration_ms", kind: "float64" },
    { name: "start_time", kind: "timestamp" },
  ]);
  const ids = [...new Set([...ctx.keys(), ...acc.keys()])];
  ids.sort((x, y) => (ctx.get(x)?.rollout.startTime ?? 0) - (ctx.get(y)?.rollout.startTime ?? 0));
  for (const id of ids) {
    const c = ctx.get(id);
    const a = acc.get(id);
    const ro = c?.rollout;
    const end = ro?.endTime ?? (a ? a.last : null);
    const start = ro?.startTime ?? (a ? a.first : null);
    b.push({
      rollout_id: id,
      status: ro?.status ?? null,
      step: c?.step ?? null,
      resources_id: ro?.resourcesId ?? null,
      final_reward: a?.reward ?? null,
      llm_calls: a?.llm ?? 0,
      input_tokens: a?.inTok ?? 0,
      output_tokens: a?.outTok ?? 0,
      total_tokens: a ? a.inTok + a.outTok : 0,
      spans: a?.spans ?? 0,
      attempts: c?.attempts.length ?? 0,
      duration_ms: start !== null && end !== null ? end - start : null,
      start_time: start,
    });
  }
  return b.table();
}

export interface RewardByStepOptions {
  /** Grouping column: "step" (default) or "resources_id". */
  by?: string;
  /** Reward dimension; default the primary one of each reward span. */
  dimension?: string;
}

/** Mean, min, max, standard deviation and count of rewards per training step (or resources version). */
export async function rewardByStep(sourceOrRewards: FrameSource | ColumnTable, opts: RewardByStepOptions = {}): Promise<ColumnTable> {
  const t = isArqueroTable(sourceOrRewards) ? (sourceOrRewards as ColumnTable) : await rewards(sourceOrRewards as FrameSource);
  const by = opts.by ?? "step";
  checkColumns(t, [by, "value", "dimension", "primary"], "frames.rewardByStep");
  const dim = opts.dimension;
  const picked =
    dim === undefined
      ? t.params({}).filter((d: { primary: boolean }) => d.primary === true)
      : t.params({ dim }).filter((d: { dimension: string }, $: { dim: string }) => d.dimension === $.dim);
  return picked
    .groupby(by)
    .rollup({
      n: op.count(),
      mean: op.mean("value"),
      min: op.min("value"),
      max: op.max("value"),
      std: op.stdev("value"),
    })
    .orderby(by);
}

/**
 * Latency percentiles (ms) per span name: n, mean, p50, p90, p99, max,
 * slowest p50 first. A directory is answered by DuckDB (linear-interpolated
 * quantiles, as arquero's): at a million spans bringing the rows into JS costs
 * seconds, the query milliseconds (bench/frames).
 */
export async function latencyByName(source: FrameSource, filter?: SpanFilter): Promise<ColumnTable> {
  const src = checkSource(source, "frames.latencyByName");
  if (typeof src === "string") {
    const where = filterSql(parseFilter(filter, "frames.latencyByName"));
    const t = await sql(
      src,
      `SELECT name, count(*)::DOUBLE AS n, avg(d) AS mean, quantile_cont(d, 0.5) AS p50, quantile_cont(d, 0.9) AS p90,
              quantile_cont(d, 0.99) AS p99, max(d) AS max
       FROM (SELECT name, (epoch_us(end_time) - epoch_us(start_time)) / 1000.0 AS d FROM spans${where.length ? ` WHERE ${where.join(" AND ")}` : ""})
       GROUP BY name ORDER BY p50 DESC, name`,
    );
    return declareColumnTypes(t, {
      name: "string",
      n: "int",
      mean: "float64",
      p50: "float64",
      p90: "float64",
      p99: "float64",
      max: "float64",
    });
  }
  const recs = await loadSpans(src, parseFilter(filter, "frames.latencyByName"), {
    attributes: false,
    columns: ["name", "start_time", "end_time"],
  });
  const t = aq.table({ name: recs.map((r) => r.name), duration_ms: Float64Array.from(recs, (r) => r.endTime - r.startTime) });
  return t
    .groupby("name")
    .rollup({
      n: op.count(),
      mean: op.mean("duration_ms"),
      p50: op.median("duration_ms"),
      p90: op.quantile("duration_ms", 0.9),
      p99: op.quantile("duration_ms", 0.99),
      max: op.max("duration_ms"),
    })
    .orderby(aq.desc("p50"), "name");
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/**
 * Two (or more) runs side by side: one row per metric, one column per run,
 * plus `diff` (last minus first) when there are two.
 */
export async function compareRuns(runs: Record<string, FrameSource>): Promise<ColumnTable> {
  if (typeof runs !== "object" || runs === null || Array.isArray(runs))
    throw new ValidationError("frames.compareRuns", ["runs: expected { name: store or dir, ... }"]);
  const names = Object.keys(runs);
  if (names.length < 1) throw new ValidationError("frames.compareRuns", ["runs: give at least one run"]);
  const metrics = ["rollouts", "succeeded_fraction", "mean_final_reward", "mean_llm_calls", "mean_total_tokens", "median_duration_ms"];
  const cols: Record<string, (number | null)[]> = {};
  for (const name of names) {
    const s = (await rolloutSummary(runs[name])).objects() as Record<string, unknown>[];
    const nums = (k: string) => s.map((r) => r[k]).filter((v): v is number => typeof v === "number");
    cols[name] = [
      s.length,
      s.length ? s.filter((r) => r.status === "succeeded").length / s.length : null,
      mean(nums("final_reward")),
      mean(nums("llm_calls")),
      mean(nums("total_tokens")),
      median(nums("duration_ms")),
    ];
  }
  const table: Record<string, unknown[]> = { metric: metrics, ...cols };
  if (names.length === 2) {
    const [a, b] = names;
    table.diff = metrics.map((_, i) => (cols[a][i] !== null && cols[b][i] !== null ? cols[b][i]! - cols[a][i]! : null));
  }
  return aq.table(table);
}

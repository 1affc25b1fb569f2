// Frames at scale: 1M seeded spans written as Parquet parts in the store's
// layout (the store's own writer), then in one run:
//   - Parquet read with and without projection (DuckDB, time and bytes read),
//   - load-to-table times of the frames a notebook calls,
//   - the group-by (rows with a reward -> per rollout mean/max/count, top 10)
//     in arquero beside DuckDB on the same files.
// Medians of 3. Ratios are against DuckDB measured in this run.
//   npx tsx bench/frames/run.ts            (SPANS=200000 for a quick run)

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as aq from "arquero";
import { SpanParquetIO } from "../../src/store/parquet-io.js";
import { STORE_LAYOUT } from "../../src/store/parquet-layout.js";
import { partPath } from "../../src/store/store-dir.js";
import { duckdb, scanSpans, sqlString } from "../../src/frame/dir-reader.js";
import { frames, seededRandom, sql } from "../../src/frame/index.js";
import type { Span } from "../../src/types/index.js";

const N = Number(process.env.SPANS ?? 1_000_000);
const PER_ROLLOUT = 50;
const PER_PART = 100_000;
const SEED = 42;
const DIR = process.env.FRAMES_BENCH_DIR ?? join(tmpdir(), `arclight-bench-frames-${N}`);

// ---------------------------------------------------------------------------
// data

function makeSpans(from: number, to: number, rand: () => number): Span[] {
  const out: Span[] = [];
  for (let i = from; i < to; i++) {
    const r = Math.floor(i / PER_ROLLOUT);
    const k = i % PER_ROLLOUT;
    const rolloutId = `ro-${r.toString(16).padStart(8, "0")}`;
    const t = Date.UTC(2026, 0, 1) + i * 20 + rand() * 10;
    const dur = 5 + rand() * 400;
    let name: string;
    let attributes: Span["attributes"];
    if (k % 10 === 9) {
      // Five reward spans per rollout: 10% of the spans carry a reward.
      const v = Math.round(rand() * 100) / 100;
      name = "agentlightning.reward";
      attributes = { "agentlightning.reward": JSON.stringify({ score: v }), "agentlightning.reward.0.name": "score", "agentlightning.reward.0.value": v };
    } else if (k % 5 === 0) {
      name = "chat tiny-llm";
      attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "tiny-llm",
        "gen_ai.usage.input_tokens": 50 + Math.floor(rand() * 200),
        "gen_ai.usage.output_tokens": 5 + Math.floor(rand() * 60),
        "gen_ai.input.messages": JSON.stringify([{ role: "user", content: `task ${r}: what is ${k} + ${r % 97}?` }]),
        "gen_ai.output.messages": JSON.stringify([{ role: "assistant", content: String(k + (r % 97)) }]),
      };
    } else {
      name = k % 2 ? "tool.search" : "agent.step";
      attributes = { "tool.name": "search", "tool.query": `q${Math.floor(rand() * 1e6)}` };
    }
    out.push({
      rolloutId,
      attemptId: `at-${r.toString(16).padStart(8, "0")}`,
      sequenceId: k,
      traceId: Math.floor(rand() * 2 ** 52).toString(16).padStart(32, "0"),
      spanId: Math.floor(rand() * 2 ** 52).toString(16).padStart(16, "0"),
      parentId: k === 0 ? null : Math.floor(rand() * 2 ** 52).toString(16).padStart(16, "0"),
      name,
      status: { statusCode: "OK", description: null },
      attributes,
      events: [],
      links: [],
      startTime: t,
      endTime: t + dur,
      resource: { attributes: { "service.name": "bench" }, schemaUrl: "" },
    });
  }
  return out;
}

async function ensureData(): Promise<void> {
  const marker = join(DIR, "bench-complete");
  if (existsSync(marker)) return;
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(join(DIR, STORE_LAYOUT.spansDir), { recursive: true });
  mkdirSync(join(DIR, STORE_LAYOUT.walDir), { recursive: true });
  const io = new SpanParquetIO();
  const rand = seededRandom(SEED);
  const t0 = performance.now();
  for (let p = 0, from = 0; from < N; p++, from += PER_PART) {
    await io.writePart(partPath(DIR, p + 1), makeSpans(from, Math.min(N, from + PER_PART), rand));
  }
  io.close();
  const bytes = readdirSync(join(DIR, STORE_LAYOUT.spansDir)).reduce((a, f) => a + statSync(join(DIR, STORE_LAYOUT.spansDir, f)).size, 0);
  console.log(`wrote ${N} spans in ${Math.ceil(N / PER_PART)} parts, ${(bytes / 1e6).toFixed(1)} MB, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  rmSync(marker, { force: true });
  (await import("node:fs")).writeFileSync(marker, "");
}

// ---------------------------------------------------------------------------
// measuring

const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))![1]);
const rssMB = () => Math.round(process.memoryUsage().rss / 1e6);

interface Result {
  ms: number;
  bytes: number;
  value: unknown;
}

async function median3(label: string, f: () => Promise<unknown>, times = 3): Promise<Result> {
  const runs: Result[] = [];
  for (let i = 0; i < times; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const b = rchar();
    const t = performance.now();
    const value = await f();
    runs.push({ ms: performance.now() - t, bytes: rchar() - b, value });
  }
  runs.sort((a, b) => a.ms - b.ms);
  const m = runs[Math.floor(runs.length / 2)];
  console.log(`${(times === 1 ? label + " (1 run)" : label).padEnd(58)} ${m.ms.toFixed(1).padStart(9)} ms ${(m.bytes / 1e6).toFixed(1).padStart(8)} MB read   rss ${rssMB()} MB`);
  return m;
}

const files = () =>
  `[${readdirSync(join(DIR, STORE_LAYOUT.spansDir))
    .filter((f) => STORE_LAYOUT.partPattern.test(f))
    .map((f) => sqlString(join(DIR, STORE_LAYOUT.spansDir, f)))
    .join(", ")}]`;

async function duck(q: string): Promise<unknown[][]> {
  const c = await duckdb();
  try {
    return (await c.runAndReadAll(q)).getColumnsJS() as unknown[][];
  } finally {
    c.closeSync();
  }
}

const GROUP_SQL = (src: string) =>
  `SELECT rollout_id, avg(reward) AS mean, max(reward) AS max, count(*) AS n FROM ${src} WHERE reward IS NOT NULL GROUP BY rollout_id ORDER BY mean DESC, rollout_id LIMIT 10`;

type Tbl = ReturnType<typeof aq.table>;

function arqueroGroup(t: Tbl): Tbl {
  return t
    .filter("d.reward != null")
    .groupby("rollout_id")
    .rollup({ mean: aq.op.mean("reward"), max: aq.op.max("reward"), n: aq.op.count() })
    .orderby(aq.desc("mean"), "rollout_id")
    .slice(0, 10);
}

async function main() {
  console.log(`frames bench: ${N} spans, ${N / PER_ROLLOUT} rollouts, dir ${DIR}, node ${process.version}`);
  await ensureData();
  await duck(`SELECT count(*) FROM read_parquet(${files()})`); // warm DuckDB

  console.log("\n-- Parquet read (DuckDB -> JS columns)");
  // Wide reads run once: each takes many seconds and gigabytes at 1M spans.
  const full = await median3("all 19 columns", () => scanSpans(DIR, { columns: ["rollout_id", "attempt_id", "sequence_id", "trace_id", "span_id", "parent_id", "name", "start_time", "end_time", "status_code", "status_message", "attributes", "events", "links", "resource", "reward", "model", "input_tokens", "output_tokens"] }), 1);
  const proj = await median3("projection: rollout_id, reward", () => scanSpans(DIR, { columns: ["rollout_id", "reward"] }));
  const projFilter = await median3("projection + filter: reward IS NOT NULL", () => scanSpans(DIR, { columns: ["rollout_id", "reward"], where: "reward IS NOT NULL" }));

  console.log("\n-- load to arquero table (what a notebook calls)");
  const spansNoAttrs = await median3("frames.spans(dir, {}, { attributes: false })", () => frames.spans(DIR, {}, { attributes: false }), 1);
  await median3("frames.rewards(dir) (reward rows, attributes parsed)", () => frames.rewards(DIR));
  await median3("frames.spans(dir, {}, { columns: [name, duration_ms] })", () => frames.spans(DIR, {}, { columns: ["name", "duration_ms"], attributes: false }), 1);
  await median3("frames.rolloutSummary(dir) (9 columns, no hex ids)", () => frames.rolloutSummary(DIR), 1);
  await median3("frames.latencyByName(dir)", () => frames.latencyByName(DIR), 1);
  const rawLoad = await median3("rollout_id+reward columns -> aq.table", async () => {
    const s = await scanSpans(DIR, { columns: ["rollout_id", "reward"] });
    return aq.table({ rollout_id: s.parquet.rollout_id, reward: s.parquet.reward });
  });

  console.log("\n-- group-by: reward rows -> per rollout mean/max/count, top 10");
  const duckGroup = await median3("DuckDB SQL on the Parquet files", () => duck(GROUP_SQL(`read_parquet(${files()})`)));
  const sqlGroup = await median3("agl.sql(dir, ...) (view incl. WAL tail)", () => sql(DIR, GROUP_SQL("spans")));
  const spansTable = spansNoAttrs.value as Tbl;
  const aqGroupWide = await median3("arquero on frames.spans table (1M rows, loaded)", async () => arqueroGroup(spansTable));
  const rawTable = rawLoad.value as Tbl;
  const aqGroupNarrow = await median3("arquero on 2-column table (1M rows, loaded)", async () => arqueroGroup(rawTable));
  const aqEndToEnd = await median3("arquero end to end: projected load + group-by", async () => {
    const s = await scanSpans(DIR, { columns: ["rollout_id", "reward"], where: "reward IS NOT NULL" });
    return arqueroGroup(aq.table({ rollout_id: s.parquet.rollout_id, reward: s.parquet.reward }));
  });

  // Same answer from both engines, or the comparison means nothing.
  const d = duckGroup.value as unknown[][];
  const a = (aqGroupNarrow.value as Tbl).objects() as { rollout_id: string; mean: number; n: number }[];
  const same = a.every((r, i) => r.rollout_id === d[0][i] && Math.abs(r.mean - (d[1][i] as number)) < 1e-9 && r.n === Number(d[3][i]));
  console.log(`\nsame top 10 from both engines: ${same}`);

  const ratio = (x: Result, y: Result) => (x.ms / y.ms).toFixed(1);
  console.log("\n-- ratios (x DuckDB group-by on the files, same run)");
  console.log(`projection bytes: all columns / rollout_id+reward = ${(full.bytes / proj.bytes).toFixed(1)}x fewer bytes, ${ratio(full, proj)}x the time`);
  console.log(`projection + filter vs projection: ${ratio(proj, projFilter)}x faster`);
  console.log(`arquero group-by (loaded, 2 columns): ${ratio(aqGroupNarrow, duckGroup)}x DuckDB`);
  console.log(`arquero group-by (loaded, frames.spans): ${ratio(aqGroupWide, duckGroup)}x DuckDB`);
  console.log(`arquero end to end (projected load + group-by): ${ratio(aqEndToEnd, duckGroup)}x DuckDB`);
  console.log(`frames.spans load (no attributes): ${ratio(spansNoAttrs, duckGroup)}x DuckDB group-by`);
  console.log(`rss at end ${rssMB()} MB`);
}

await main();

// Frames at scale: 1M seeded spans in the store's Parquet layout (data.ts,
// written once into the temp dir and reused), then in one run:
//   - the floor: a plain parquet-wasm read of the same files to Arrow,
//   - frames.spans as an arquero table (all span columns; then with the
//     attribute column), against the floor,
//   - each frame helper against the DuckDB query that answers the same
//     question over the same files (its result materialized in DuckDB),
//   - the group-by (reward rows -> per rollout mean/max/count, top 10) in
//     arquero on the loaded frame beside DuckDB.
// Process CPU time is printed beside wall time: the box is shared.
//   node --expose-gc --import tsx bench/frames/run.ts       (SPANS=200000 for a quick run,
//                                                            ONLY=load for the floor and frames.spans only,
//                                                            ONLY=llmCalls (a helper's name) for that helper only)

import { readdirSync } from "node:fs";
import { join } from "node:path";
import * as aq from "arquero";
import { readParquetArrow } from "../../src/frame/arrow.js";
import { SPAN_BASE_COLUMNS } from "../../src/frame/columns.js";
import { duckdb, sqlString } from "../../src/frame/dir-reader.js";
import { LLM_SQL, REWARD_SQL } from "../../src/frame/frames.js";
import { frames } from "../../src/frame/index.js";
import { STORE_LAYOUT } from "../../src/store/parquet-layout.js";
import { benchDir, ensureData, PER_ROLLOUT } from "./data.js";

const N = Number(process.env.SPANS ?? 1_000_000);
const DIR = benchDir(N);

interface Result {
  ms: number;
  cpu: number;
  value: unknown;
}

const rssMB = () => Math.round(process.memoryUsage().rss / 1e6);

async function measure(label: string, f: () => Promise<unknown>, times = 1): Promise<Result> {
  const runs: Result[] = [];
  for (let i = 0; i < times; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const c0 = process.cpuUsage();
    const t = performance.now();
    const value = await f();
    const ms = performance.now() - t;
    const c = process.cpuUsage(c0);
    runs.push({ ms, cpu: (c.user + c.system) / 1000, value });
  }
  runs.sort((a, b) => a.ms - b.ms);
  const m = runs[Math.floor(runs.length / 2)];
  const tag = times === 1 ? "" : ` (median of ${times})`;
  console.log(
    `${(label + tag).padEnd(66)} ${(m.ms / 1000).toFixed(2).padStart(7)} s wall ${(m.cpu / 1000).toFixed(2).padStart(7)} s cpu   rss ${rssMB()} MB`,
  );
  return m;
}

const partFiles = () =>
  readdirSync(join(DIR, STORE_LAYOUT.spansDir))
    .filter((f) => STORE_LAYOUT.partPattern.test(f))
    .sort()
    .map((f) => join(DIR, STORE_LAYOUT.spansDir, f));
const files = () => `read_parquet([${partFiles().map(sqlString).join(", ")}])`;

async function duck(q: string): Promise<unknown[][]> {
  const c = await duckdb();
  try {
    return (await c.runAndReadAll(q)).getColumnsJS() as unknown[][];
  } finally {
    c.closeSync();
  }
}

/** DuckDB answering a question whose answer is rows: materialized in DuckDB, nothing crosses into JS. */
const materialize = (q: string) => duck(`CREATE OR REPLACE TEMP TABLE bench_answer AS ${q}`);

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

/** Reads every value of every column once: lazy columns pay their decoding here. */
function readEvery(t: Tbl): number {
  let n = 0;
  for (const name of t.columnNames()) {
    const col = t.column(name)!;
    for (let i = 0; i < col.length; i++) if (col.at(i) !== null) n++;
  }
  return n;
}

async function main() {
  console.log(`frames bench: ${N} spans, ${N / PER_ROLLOUT} rollouts, dir ${DIR}, node ${process.version}`);
  await ensureData(DIR, N);
  await duck(`SELECT count(*) FROM ${files()}`); // warm DuckDB
  await readParquetArrow(partFiles().slice(0, 1), ["name"]); // compile parquet-wasm

  console.log("\n-- the floor: parquet-wasm read of the same files to Arrow");
  // Plain: one thread, as a caller of parquet-wasm would read them. frames may add the decoding worker.
  const plain = { workerMinBytes: Infinity };
  const floor = await measure(`parquet-wasm, ${SPAN_BASE_COLUMNS.length} span columns`, () =>
    readParquetArrow(partFiles(), SPAN_BASE_COLUMNS, plain),
  );
  const floorAttrs = await measure("parquet-wasm, span columns + attributes", () =>
    readParquetArrow(partFiles(), [...SPAN_BASE_COLUMNS, "attributes"], plain),
  );

  console.log("\n-- frames.spans: 1M spans as an arquero table");
  const spans = await measure("frames.spans(dir, {}, { attributes: false }) (all span columns)", () =>
    frames.spans(DIR, {}, { attributes: false }),
  );
  const spansAttrs = await measure("frames.spans(dir) (+ attributes, parsed per row when read)", () => frames.spans(DIR));
  const t = spans.value as Tbl;
  const touch = await measure("  then read every value of every column once", async () => readEvery(t));

  const x = (p: Result, q: Result) => `${(p.ms / q.ms).toFixed(2)}x wall, ${(p.cpu / q.cpu).toFixed(2)}x cpu`;
  if (process.env.ONLY === "load") {
    // ONLY=load: the floor and the span frame, without the helpers (minutes each on a busy box).
    console.log(`\nframes.spans, all span columns / parquet-wasm floor: ${x(spans, floor)}`);
    console.log(`frames.spans with attributes / parquet-wasm floor with attributes: ${x(spansAttrs, floorAttrs)}`);
    return;
  }

  console.log("\n-- frame helpers vs the DuckDB query answering the same question");
  const pairs: [string, Result, Result, Result][] = [];
  const only = process.env.ONLY;
  const pair = async (name: string, helper: () => Promise<unknown>, sqlAnswer: string) => {
    if (only && only !== name) return;
    const d = await measure(`  DuckDB: ${name}`, () => materialize(sqlAnswer), 3);
    const h = await measure(`frames.${name}(dir)`, helper, 3);
    // Lazy columns defer work to the first read, so the helper's time alone would flatter it.
    const table = h.value as Tbl;
    const r = await measure("  then read every value once", async () => readEvery(table));
    pairs.push([name, h, d, { ms: h.ms + r.ms, cpu: h.cpu + r.cpu, value: null }]);
  };
  const attemptAgg = `SELECT rollout_id, attempt_id, count(*) AS spans, count(*) FILTER (WHERE ${LLM_SQL}) AS llm, sum(input_tokens), sum(output_tokens),
    min(start_time), max(end_time), arg_max(reward, sequence_id) FILTER (WHERE reward IS NOT NULL) FROM ${files()} GROUP BY rollout_id, attempt_id`;
  await pair("rolloutSummary", () => frames.rolloutSummary(DIR), attemptAgg);
  await pair(
    "latencyByName",
    () => frames.latencyByName(DIR),
    `SELECT name, count(*), avg(d), quantile_cont(d, 0.5), quantile_cont(d, 0.9), quantile_cont(d, 0.99), max(d)
     FROM (SELECT name, (epoch_us(end_time) - epoch_us(start_time)) / 1000.0 AS d FROM ${files()}) GROUP BY name`,
  );
  const withAttrs = [...SPAN_BASE_COLUMNS, "attributes"].join(", ");
  await pair("rewards", () => frames.rewards(DIR), `SELECT ${withAttrs} FROM ${files()} WHERE ${REWARD_SQL}`);
  await pair("llmCalls", () => frames.llmCalls(DIR), `SELECT ${withAttrs} FROM ${files()} WHERE ${LLM_SQL}`);

  if (only) {
    for (const [name, h, q, all] of pairs) console.log(`\nframes.${name} / DuckDB: ${x(h, q)}; with every value read: ${x(all, q)}`);
    return;
  }

  console.log("\n-- group-by: reward rows -> per rollout mean/max/count, top 10");
  const duckGroup = await measure("DuckDB SQL on the Parquet files", () => duck(GROUP_SQL(files())), 3);
  const aqGroup = await measure("arquero on the loaded frames.spans table", async () => arqueroGroup(t), 3);
  const d = duckGroup.value as unknown[][];
  const a = (aqGroup.value as Tbl).objects() as { rollout_id: string; mean: number; n: number }[];
  const same =
    a.length === 10 &&
    a.every((r, i) => r.rollout_id === d[0][i] && Math.abs(r.mean - (d[1][i] as number)) < 1e-9 && r.n === Number(d[3][i]));
  console.log(`same top 10 from both engines: ${same}`);

  console.log("\n-- ratios (same run)");
  console.log(`frames.spans, all span columns / parquet-wasm floor: ${x(spans, floor)}`);
  console.log(`frames.spans with attributes / parquet-wasm floor with attributes: ${x(spansAttrs, floorAttrs)}`);
  console.log(`reading every value of the loaded frame / its load: ${x(touch, spans)}`);
  for (const [name, h, q, all] of pairs) console.log(`frames.${name} / DuckDB: ${x(h, q)}; with every value read: ${x(all, q)}`);
  console.log(`arquero group-by on the loaded frame / DuckDB: ${x(aqGroup, duckGroup)}`);
  console.log(`rss at end ${rssMB()} MB`);
}

await main();

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type DurableStore } from "../src/store/index.js";
import { frames, sql, writeSyntheticRun } from "../src/frame/index.js";
import { scanSpans } from "../src/frame/dir-reader.js";
import { ValidationError } from "../src/types/errors.js";

type Row = Record<string, unknown>;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "arclight-frame-"));
}

const sortRows = (rows: Row[]) => rows.map((r) => JSON.stringify(r, (_k, v) => (v instanceof Date ? v.getTime() : v))).sort();

/** Frames of a directory must equal frames of the live store that wrote it (Parquet times are microseconds, as in the store). */
async function assertSame(store: DurableStore, dir: string) {
  const fromStore = sortRows((await frames.spans(store)).objects() as Row[]);
  const fromDir = sortRows((await frames.spans(dir)).objects() as Row[]);
  assert.equal(fromDir.length, fromStore.length);
  assert.deepEqual(fromDir, fromStore);
  assert.deepEqual(sortRows((await frames.rewards(dir)).objects() as Row[]), sortRows((await frames.rewards(store)).objects() as Row[]));
  assert.deepEqual(sortRows((await frames.rollouts(dir)).objects() as Row[]), sortRows((await frames.rollouts(store)).objects() as Row[]));
  assert.deepEqual(
    sortRows((await frames.rolloutSummary(dir)).objects() as Row[]),
    sortRows((await frames.rolloutSummary(store)).objects() as Row[]),
  );
  // A directory's percentiles come from DuckDB, a store's from arquero: same definition, float rounding aside.
  const latDir = (await frames.latencyByName(dir)).objects() as Row[];
  const latStore = (await frames.latencyByName(store)).objects() as Row[];
  assert.deepEqual(
    latDir.map((r) => [r.name, r.n]),
    latStore.map((r) => [r.name, r.n]),
  );
  latDir.forEach((r, i) => {
    // Parquet and DuckDB hold times to the microsecond: 1 µs (0.001 ms) is the resolution.
    for (const k of ["mean", "p50", "p90", "p99", "max"])
      assert.ok(Math.abs((r[k] as number) - (latStore[i][k] as number)) <= 1e-3, `${r.name} ${k}`);
  });
}

test("frames read a directory while its writer holds it: WAL tail, Parquet parts, then both", async () => {
  const dir = tempDir();
  try {
    const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
    await writeSyntheticRun(store, { rollouts: 8, seed: 1 });
    // Nothing folded into Parquet yet: every span is only in the WAL.
    assert.equal((await frames.spans(dir)).numRows(), 8 * 4);
    await assertSame(store, dir);
    await store.flush();
    await writeSyntheticRun(store, { rollouts: 5, seed: 2 });
    // Now part files plus a WAL tail.
    const scan = await scanSpans(dir, { columns: ["span_id"] });
    assert.ok(scan.partFiles.length >= 1 && scan.parquetRows === 8 * 4 && scan.wal.length === 5 * 4);
    await assertSame(store, dir);
    const reader = await openStore(dir, { readOnly: true });
    assert.equal((await frames.rewards(reader)).numRows(), 13 * 2, "a read-only store is a source too");
    await reader.close();
    const counted = (await sql(dir, "SELECT count(*) AS n, count(DISTINCT rollout_id) AS r FROM spans")).objects()[0] as Row;
    assert.deepEqual(counted, { n: 13 * 4, r: 13 });
    await store.close();
    const after = (await openStore(dir, { readOnly: true })) as DurableStore;
    await assertSame(after, dir);
    await after.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sql returns typed, null-safe arquero tables and reports bad SQL as a ValidationError", async () => {
  const dir = tempDir();
  try {
    const store = await openStore(dir, { fsync: "none" });
    await writeSyntheticRun(store, { rollouts: 6, seed: 3 });
    await store.close();
    const t = await sql(
      dir,
      "SELECT rollout_id, max(reward) AS reward, sum(input_tokens) AS tokens, min(start_time) AS t0 FROM spans GROUP BY rollout_id ORDER BY rollout_id",
    );
    const rows = t.objects() as Row[];
    assert.equal(rows.length, 6);
    for (const r of rows) {
      assert.ok(r.reward === 0 || r.reward === 1);
      assert.equal(typeof r.tokens, "number", "HUGEINT sums come back as numbers when safe");
      assert.ok(r.t0 instanceof Date);
    }
    const nulls = (await sql(dir, "SELECT model FROM spans WHERE name = 'agentlightning.reward'")).objects() as Row[];
    assert.ok(nulls.length === 6 && nulls.every((r) => r.model === null));
    await assert.rejects(sql(dir, "SELECT nope FROM spans"), /ValidationError|nope/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("projection: frames that skip the attribute JSON read several times fewer bytes from Parquet", async () => {
  const dir = tempDir();
  try {
    const store = await openStore(dir, { fsync: "none" });
    await writeSyntheticRun(store, { rollouts: 400, seed: 4 });
    await store.close();
    // rchar counts bytes the process read through read/pread, page cache or not.
    const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))![1]);
    const measure = async (f: () => Promise<unknown>) => {
      await f(); // warm: DuckDB's first use loads extensions and metadata
      const before = rchar();
      await f();
      return rchar() - before;
    };
    const narrow = await measure(() => frames.spans(dir, {}, { attributes: false }));
    const wide = await measure(() => frames.spans(dir));
    const tiny = await measure(() => scanSpans(dir, { columns: ["rollout_id", "reward"] }));
    // The attribute JSON is most of a span's bytes; ids and hex trace ids are most of the rest.
    assert.ok(wide > 2 * narrow, `with attributes ${wide} B, without ${narrow} B`);
    assert.ok(4 * tiny < narrow, `two columns ${tiny} B vs base columns ${narrow} B`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("time and rollout filters push into the Parquet scan and match the store's own answer", async () => {
  const dir = tempDir();
  try {
    const store = (await openStore(dir, { fsync: "none" })) as DurableStore;
    await writeSyntheticRun(store, { rollouts: 10, seed: 6 });
    await store.flush();
    const all = await store.querySpans();
    const times = all.map((s) => s.startTime).sort((a, b) => a - b);
    const since = times[7];
    const until = times[25];
    const ids = [...new Set(all.map((s) => s.rolloutId))].slice(2, 5);
    const t = await frames.spans(dir, { since, until, rolloutId: ids });
    const expected = all
      .filter((s) => s.startTime >= since && s.startTime < until && ids.includes(s.rolloutId))
      .map((s) => s.spanId)
      .sort();
    assert.deepEqual((t.objects() as Row[]).map((r) => r.span_id).sort(), expected);
    const narrow = await frames.spans(dir, { namePrefix: "chat " }, { columns: ["name", "duration_ms"], attributes: false });
    assert.deepEqual(narrow.columnNames(), ["name", "duration_ms"]);
    const chats = all.filter((s) => s.name.startsWith("chat "));
    assert.deepEqual(
      (narrow.objects() as Row[]).map((r) => Math.round((r.duration_ms as number) * 1000)).sort(),
      chats.map((s) => Math.round((s.endTime - s.startTime) * 1000)).sort(),
    );
    await assert.rejects(frames.spans(dir, {}, { columns: ["nope" as never] }), ValidationError);
    const named = await frames.spans(dir, { namePrefix: "agentlightning." });
    assert.equal(named.numRows(), all.filter((s) => s.name.startsWith("agentlightning.")).length);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

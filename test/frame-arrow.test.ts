// Parquet -> Arrow for frames: a read split between this thread and the
// decoding worker gives the same columns, in file order, as one done here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readParquetArrow, timeMs, values } from "../src/frame/arrow.js";
import { writeSyntheticRun } from "../src/frame/index.js";
import { listStoreDir, partPath } from "../src/store/store-dir.js";
import { openStore, type DurableStore } from "../src/store/index.js";

test("a Parquet read split with the decoding worker equals one done on this thread, in file order", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-frame-arrow-"));
  try {
    const store = (await openStore(dir, { fsync: "none", checkpointIntervalMs: 0 })) as DurableStore;
    for (let i = 0; i < 4; i++) {
      await writeSyntheticRun(store, { rollouts: 3, seed: i + 1 });
      await store.flush();
    }
    await store.close();
    const files = [...listStoreDir(dir).parts].sort((a, b) => a - b).map((n) => partPath(dir, n));
    assert.ok(files.length >= 3, `${files.length} part files`);
    const cols = ["span_id", "name", "start_time", "reward", "sequence_id", "attributes"];
    const here = await readParquetArrow(files, cols, { workerMinBytes: Infinity });
    const split = await readParquetArrow(files, cols, { workerMinBytes: 0 });
    assert.equal(split.rows, here.rows);
    assert.ok(here.rows >= 4 * 3 * 4);
    for (const c of cols.filter((c) => c !== "start_time"))
      assert.deepEqual(Array.from(values(split.columns[c], split.rows)), Array.from(values(here.columns[c], here.rows)), c);
    assert.deepEqual(timeMs(split.columns.start_time, split.rows), timeMs(here.columns.start_time, here.rows));
    // A missing file is an error, not a short read.
    await assert.rejects(readParquetArrow([...files, join(dir, "spans", "part-999999.parquet")], cols, { workerMinBytes: 0 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// What only the durable store promises: reopening restores everything,
// acknowledged writes survive kill -9 and torn tails, Parquet reads back in
// DuckDB with the right types, and readers share the directory with a writer.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";
import { type DurableStore, openStore, StoreLockedError, type LightningStore } from "../src/store/index.js";
import { SPAN_COLUMNS } from "../src/store/parquet-layout.js";
import { readWalSpans } from "../src/store/wal-spans.js";
import { AGL, GEN_AI, ReadOnlyStoreError } from "../src/types/index.js";
import { makeSpan } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-durable-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);
const execFileP = promisify(execFile);
const CHILD = join(import.meta.dirname, "store-child.ts");

async function everything(s: LightningStore) {
  const rollouts = await s.queryRollouts();
  return {
    rollouts,
    attempts: await Promise.all(rollouts.map((r) => s.queryAttempts(r.rolloutId))),
    spans: await s.querySpans(),
    resources: await s.queryResources(),
    latest: await s.getLatestResources(),
    workers: await s.queryWorkers(),
  };
}

/** A copy of a live store's directory, as a crash would leave it (the copy has no live writer). */
function crashCopy(dir: string): string {
  const to = freshDir();
  cpSync(dir, to, { recursive: true });
  rmSync(join(to, "writer.lock"), { force: true });
  return to;
}

async function populate(s: LightningStore) {
  const a = await s.startRollout({ input: { q: "a" }, rolloutId: "ro-a", config: { maxAttempts: 2 } }, { workerId: "w1" });
  await s.addSpans(
    Array.from({ length: 50 }, (_, i) =>
      makeSpan("ro-a", a.attempt.attemptId, {
        name: `s${i}`,
        startTime: 1700000000000.123 + i,
        attributes: { [AGL.attrs.rewardPrimary]: i / 10 },
      }),
    ),
  );
  await s.updateAttempt("ro-a", "latest", { status: "failed" });
  const a2 = (await s.dequeueRollout({ workerId: "w2" }))!;
  await s.addSpan(
    makeSpan("ro-a", a2.attempt.attemptId, { parentId: "0123456789abcdef", status: { statusCode: "ERROR", description: "bad" } }),
  );
  await s.enqueueManyRollouts([
    { input: 1, rolloutId: "ro-q1" },
    { input: 2, rolloutId: "ro-q2", mode: "val" },
  ]);
  const rs = await s.addResources({ p: { resourceType: "prompt_template", template: "v1" } }, "rs-p");
  await s.updateResources(rs.resourcesId, { p: { resourceType: "prompt_template", template: "v2" } });
  await s.addResources({ llm: { resourceType: "llm", endpoint: "http://127.0.0.1:9/v1", model: "tiny" } }, "rs-llm");
  return a2;
}

test("reopening restores every rollout, attempt, span, resource version, worker and the queue", async () => {
  const dir = freshDir();
  // A small roll size forces several Parquet parts plus a WAL tail.
  const s = await openStore(dir, { parquetRollSpans: 20 });
  const a2 = await populate(s);
  const before = await everything(s);
  await s.close();
  assert.ok(readdirSync(join(dir, "spans")).filter((f) => f.endsWith(".parquet")).length >= 2);

  const r = await openStore(dir);
  assert.deepEqual(await everything(r), before);
  // The queue survives in order, and sequence ids continue after the last stored one.
  assert.equal((await r.dequeueRollout())?.rolloutId, "ro-q1");
  const sp = await r.addSpan(makeSpan("ro-a", a2.attempt.attemptId));
  assert.equal(sp.sequenceId, 1);
  const st = await r.statistics();
  assert.equal(st.spans, 52);
  assert.equal(st.resources, 3);
  await r.close();
});

test("after reopen, spans on disk and spans in memory answer every query as one ordered set", async () => {
  const dir = freshDir();
  const s = await openStore(dir);
  const a = await s.startRollout({ input: 1, rolloutId: "ro-1" });
  const b = await s.startRollout({ input: 1, rolloutId: "ro-2" });
  const mk = (rid: string, aid: string, i: number) => makeSpan(rid, aid, { name: i % 2 ? "agentlightning.reward" : "llm.call" });
  await s.addSpans(Array.from({ length: 6 }, (_, i) => mk("ro-1", a.attempt.attemptId, i)));
  await s.addSpans(Array.from({ length: 4 }, (_, i) => mk("ro-2", b.attempt.attemptId, i)));
  await s.close();
  // Second session: the same attempts go on; their older spans are now only in Parquet.
  const t = await openStore(dir);
  assert.equal(await t.getNextSpanSequenceId("ro-1", a.attempt.attemptId), 6);
  await t.addSpans(Array.from({ length: 3 }, (_, i) => mk("ro-1", a.attempt.attemptId, i)));
  await t.addSpans(Array.from({ length: 2 }, (_, i) => mk("ro-2", b.attempt.attemptId, i)));
  const queries = [
    {},
    { rolloutId: "ro-1" },
    { rolloutId: "ro-1", attemptId: "latest" },
    { attemptId: "latest" },
    { attemptId: b.attempt.attemptId },
    { name: "llm.call" },
    { namePrefix: "agentlightning." },
    { rolloutId: "ro-1", minSequenceId: 5 },
    { limit: 7 },
    { rolloutId: "ro-2", limit: 3 },
    { rolloutId: "ro-none" },
  ];
  const mixed = [];
  for (const q of queries) mixed.push(await t.querySpans(q));
  assert.deepEqual(
    mixed[1].map((x) => x.sequenceId),
    [0, 1, 2, 3, 4, 5, 7, 8, 9],
  );
  assert.deepEqual(
    mixed[8].map((x) => `${x.rolloutId}:${x.sequenceId}`),
    ["ro-1:0", "ro-1:1", "ro-1:2", "ro-1:3", "ro-1:4", "ro-1:5", "ro-1:7"],
  );
  assert.equal((await t.statistics()).spans, 15);
  await t.close();
  // Third session: everything on disk; the same queries give the same answers.
  const u = await openStore(dir, { readOnly: true });
  for (let i = 0; i < queries.length; i++) assert.deepEqual(await u.querySpans(queries[i]), mixed[i], JSON.stringify(queries[i]));
  await u.close();
});

test("a long run keeps about two segments of spans in memory and answers every query like a memory store", async () => {
  const dir = freshDir();
  // Segments are cut by flush() every 100 spans, so the bound below does not depend on timing.
  const roll = 100;
  const s = await openStore(dir, { parquetRollSpans: 1e9, checkpointIntervalMs: 0 });
  const m = await openStore();
  const ids: Record<string, string>[] = [{}, {}];
  for (const [k, st] of [s, m].entries()) {
    for (const rid of ["ro-1", "ro-2", "ro-3"]) ids[k][rid] = (await st.startRollout({ input: rid, rolloutId: rid })).attempt.attemptId;
  }
  let peak = 0;
  for (let batch = 0; batch < 40; batch++) {
    const rid = `ro-${(batch % 3) + 1}`;
    const spans = Array.from({ length: 25 }, (_, i) =>
      makeSpan(rid, "", { name: i % 5 === 0 ? "agentlightning.reward" : "chat", attributes: { b: batch, i } }),
    );
    for (const [k, st] of [s, m].entries()) await st.addSpans(spans.map((x) => ({ ...x, attemptId: ids[k][rid] })));
    peak = Math.max(peak, (await s.statistics()).spansInMemory!);
    if (batch % 4 === 3) await s.flush();
  }
  await s.flush();
  const st = await s.statistics();
  assert.equal(st.spans, 1000);
  assert.equal(st.parquetFiles, 10);
  // The open segment plus the newest sealed one.
  assert.equal(peak, 2 * roll);
  assert.equal(st.spansInMemory, roll);
  const queries = [
    {},
    { rolloutId: "ro-1" },
    { rolloutId: "ro-3", attemptId: "latest" },
    { attemptId: "latest" },
    { rolloutId: "ro-2", name: "agentlightning.reward" },
    { name: "agentlightning.reward" },
    { namePrefix: "agent", limit: 30 },
    { rolloutId: "ro-2", minSequenceId: 150 },
    { limit: 333 },
    { rolloutId: "ro-3", limit: 5 },
  ];
  const strip = (xs: { attemptId: string }[]) => xs.map((x) => ({ ...x, attemptId: "" }));
  for (const q of queries) {
    const [got, want] = [await s.querySpans(q), await m.querySpans(q)];
    assert.equal(got.length, want.length, JSON.stringify(q));
    // Attempt ids are random per store; everything else matches span for span, in order.
    assert.deepEqual(strip(got), strip(want), JSON.stringify(q));
  }
  await s.close();
  await m.close();
});

test("a crash leaves acknowledged records that reopen replays, and a torn tail is cut off", async () => {
  const dir = freshDir();
  const s = await openStore(dir, { checkpointIntervalMs: 0 });
  await populate(s);
  const before = await everything(s);
  // Simulate a crash mid-write: copy the directory while the writer is live, then tear the tail.
  const crashed = crashCopy(dir);
  const wal = readdirSync(join(crashed, "wal")).sort().at(-1)!;
  const walFile = join(crashed, "wal", wal);
  const goodSize = statSync(walFile).size;
  appendFileSync(walFile, '{"c":123,"r":{"resources":[{"resourcesId":"torn"');
  const r = await openStore(crashed);
  assert.deepEqual(await everything(r), before);
  await r.close();
  // A whole record with a bad checksum after good ones: only it is dropped.
  const crashed2 = crashCopy(dir);
  const walFile2 = join(crashed2, "wal", wal);
  appendFileSync(walFile2, '{"c":12345,"r":{"latestResourcesId":"forged"}}\n');
  assert.ok(statSync(walFile2).size > goodSize);
  const r2 = await openStore(crashed2);
  assert.deepEqual(await everything(r2), before);
  await r2.close();
  await s.close();
});

test("spans acknowledged before kill -9 are all there after reopen (and the stale lock is taken over)", async () => {
  const dir = freshDir();
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, "write", dir], { stdio: ["ignore", "pipe", "inherit"] });
  let attemptId = "";
  let lastSeq = -1;
  const rollouts: string[] = [];
  let resourcesVersion = 0;
  let buf = "";
  await new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        const [kind, a, b] = line.split(" ");
        if (kind === "attempt") attemptId = a;
        if (kind === "spans") lastSeq = Number(b);
        if (kind === "rollout") rollouts.push(a);
        if (kind === "resources") resourcesVersion = Number(a);
      }
      // Enough to have crossed several checkpoints (roll size 300).
      if (lastSeq >= 1500) {
        child.kill("SIGKILL");
        resolve();
      }
    });
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
  assert.equal(child.signalCode, "SIGKILL");
  assert.ok(existsSync(join(dir, "writer.lock")));

  const s = await openStore(dir);
  const spans = await s.querySpans({ rolloutId: "ro-crash", attemptId });
  const seqs = new Set(spans.map((x) => x.sequenceId));
  for (let i = 0; i <= lastSeq; i++) assert.ok(seqs.has(i), `acknowledged span ${i} lost`);
  for (const id of rollouts) assert.ok(await s.getRolloutById(id), `acknowledged rollout ${id} lost`);
  assert.ok((await s.getResourcesById("rs-crash"))!.version >= resourcesVersion);
  // Nothing twice, even though the crash may have hit a checkpoint.
  assert.equal(seqs.size, spans.length);
  await s.close();
});

test("Parquet part files read back in DuckDB with the documented types, nulls and counts", async () => {
  const dir = freshDir();
  const s = await openStore(dir);
  const r = await s.startRollout({ input: 1, rolloutId: "ro-pq" });
  const aid = r.attempt.attemptId;
  await s.addSpans([
    makeSpan("ro-pq", aid, { name: AGL.spans.reward, attributes: { [AGL.attrs.rewardPrimary]: 0.75 } }),
    makeSpan("ro-pq", aid, {
      name: "chat",
      parentId: "00f067aa0ba902b7",
      attributes: {
        [GEN_AI.requestModel]: "req",
        [GEN_AI.responseModel]: "resp",
        [GEN_AI.usageInputTokens]: 11,
        [GEN_AI.usageOutputTokens]: 7,
      },
    }),
    makeSpan("ro-pq", aid, {
      name: "plain",
      startTime: Date.UTC(2025, 0, 2, 3, 4, 5, 6) + 0.007,
      status: { statusCode: "ERROR", description: "it broke" },
    }),
  ]);
  await (s as DurableStore).flush();
  // Logged after the flush: still only in the WAL.
  await s.addSpan(makeSpan("ro-pq", aid, { name: "tail" }));
  const inWal = readWalSpans(dir);
  assert.deepEqual(
    inWal.map((x) => x.name),
    ["tail"],
  );

  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  const glob = `'${join(dir, "spans", "part-*.parquet")}'`;
  const desc = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${glob})`)).getRowObjectsJS() as {
    column_name: string;
    column_type: string;
  }[];
  assert.deepEqual(
    desc.map((d) => d.column_name),
    SPAN_COLUMNS.map((x) => x.name),
  );
  const types = Object.fromEntries(desc.map((d) => [d.column_name, d.column_type]));
  assert.equal(types.sequence_id, "BIGINT");
  assert.equal(types.start_time, "TIMESTAMP WITH TIME ZONE");
  assert.equal(types.reward, "DOUBLE");
  assert.equal(types.input_tokens, "BIGINT");
  assert.equal(types.attributes, "VARCHAR");
  const rows = (
    await c.runAndReadAll(
      `SELECT name, reward, model, input_tokens, output_tokens, parent_id, status_code, status_message, epoch_us(start_time) AS us, json_extract(attributes, '$."gen_ai.usage.input_tokens"')::INT AS json_tokens
     FROM read_parquet(${glob}) ORDER BY sequence_id`,
    )
  ).getRowObjectsJS() as Record<string, unknown>[];
  assert.equal(rows.length, 3);
  assert.deepEqual(
    rows.map((x) => x.name),
    [AGL.spans.reward, "chat", "plain"],
  );
  assert.equal(rows[0].reward, 0.75);
  assert.equal(rows[1].reward, null);
  assert.equal(rows[1].model, "resp");
  assert.equal(rows[1].input_tokens, 11n);
  assert.equal(rows[1].output_tokens, 7n);
  assert.equal(rows[1].json_tokens, 11);
  assert.equal(rows[0].model, null);
  assert.equal(rows[0].input_tokens, null);
  assert.equal(rows[0].parent_id, null);
  assert.equal(rows[1].parent_id, "00f067aa0ba902b7");
  assert.equal(rows[2].status_code, "ERROR");
  assert.equal(rows[2].status_message, "it broke");
  assert.equal(rows[0].status_message, null);
  assert.equal(rows[2].us, BigInt(Date.UTC(2025, 0, 2, 3, 4, 5, 6)) * 1000n + 7n);
  const counts = (await c.runAndReadAll(`SELECT count(*)::INT AS n, count(reward)::INT AS r FROM read_parquet(${glob})`)).getRowObjectsJS();
  assert.deepEqual(counts, [{ n: 3, r: 1 }]);
  c.closeSync();
  db.closeSync();
  await s.close();
});

test("a reader opens the directory read-only while the writer writes, in this process and another", async () => {
  const dir = freshDir();
  const w = await openStore(dir, { parquetRollSpans: 10 });
  const r = await w.startRollout({ input: 1, rolloutId: "ro-live" });
  await w.addSpans(Array.from({ length: 25 }, () => makeSpan("ro-live", r.attempt.attemptId, { name: "early" })));
  await assert.rejects(openStore(dir), StoreLockedError);

  const reader = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
  assert.equal(reader.readOnly, true);
  assert.equal((await reader.querySpans()).length, 25);
  await assert.rejects(reader.enqueueRollout({ input: 1 }), ReadOnlyStoreError);
  await w.addSpan(makeSpan("ro-live", r.attempt.attemptId, { name: "late" }));
  await w.updateAttempt("ro-live", "latest", { status: "succeeded" });
  assert.equal((await reader.querySpans()).length, 25);
  await reader.refresh!();
  assert.equal((await reader.querySpans()).length, 26);
  assert.equal((await reader.getRolloutById("ro-live"))?.status, "succeeded");

  const { stdout } = await execFileP(process.execPath, ["--import", "tsx", CHILD, "read", dir]);
  assert.deepEqual(JSON.parse(stdout), { rollouts: 1, spans: 26, names: ["early", "late"] });
  await reader.close();
  await w.close();
});

test("a following reader sees a live run without refresh(): new spans once each across checkpoints, finished rollouts wake its waiters", async () => {
  const dir = freshDir();
  const w = await openStore(dir, { parquetRollSpans: 1e9, checkpointIntervalMs: 0 });
  const a = await w.startRollout({ input: 1, rolloutId: "ro-1" });
  const reader = await openStore(dir, { readOnly: true, followIntervalMs: 20 });
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const t0 = Date.now();
    while (!(await ok())) {
      if (Date.now() - t0 > 5000) assert.fail(`reader never saw ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const waited = reader.waitForRollouts(["ro-1"], { timeoutMs: 10_000 });
  let sent = 0;
  for (let round = 0; round < 6; round++) {
    await w.addSpans(Array.from({ length: 7 }, (_, i) => makeSpan("ro-1", a.attempt.attemptId, { attributes: { round, i } })));
    sent += 7;
    // Every other round ends with a checkpoint, so the reader crosses parts, snapshots and deleted segments.
    if (round % 2) await w.flush();
    await until(`${sent} spans`, async () => (await reader.querySpans({ rolloutId: "ro-1" })).length === sent);
    const seqs = (await reader.querySpans({ rolloutId: "ro-1" })).map((x) => x.sequenceId);
    assert.deepEqual(
      seqs,
      Array.from({ length: sent }, (_, i) => i),
    );
  }
  await w.updateAttempt("ro-1", "latest", { status: "succeeded" });
  const done = await waited;
  assert.deepEqual(
    done.map((r) => [r.rolloutId, r.status]),
    [["ro-1", "succeeded"]],
  );
  assert.equal((reader as DurableStore).lastFollowError, null);
  await reader.close();
  await w.close();
});

test("every fsync policy acknowledges writes that reopen finds", async () => {
  for (const fsync of ["always", "batch", "none"] as const) {
    const dir = freshDir();
    const s = await openStore(dir, { fsync });
    const r = await s.startRollout({ input: fsync });
    await Promise.all(Array.from({ length: 20 }, () => s.addSpan(makeSpan(r.rolloutId, r.attempt.attemptId))));
    const copy = crashCopy(dir);
    await s.close();
    const again = await openStore(copy);
    assert.equal((await again.querySpans()).length, 20, fsync);
    await again.close();
  }
});

test("checkpoints fold the WAL into Parquet and delete sealed segments", async () => {
  const dir = freshDir();
  const s = (await openStore(dir, { parquetRollSpans: 100, checkpointIntervalMs: 0 })) as DurableStore;
  const r = await s.startRollout({ input: 1 });
  for (let i = 0; i < 5; i++) await s.addSpans(Array.from({ length: 60 }, () => makeSpan(r.rolloutId, r.attempt.attemptId)));
  await s.flush();
  const st = await s.statistics();
  assert.ok(st.parquetFiles! >= 2);
  assert.equal(readdirSync(join(dir, "wal")).length, 0);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith("snapshot-")).length, 1);
  assert.deepEqual(readWalSpans(dir), []);
  await s.close();
  assert.equal(existsSync(join(dir, "writer.lock")), false);
});

test("large checkpoints, written by DuckDB straight from the WAL, put every span in Parquet once", async () => {
  const dir = freshDir();
  const s = (await openStore(dir, { parquetRollSpans: 5000, checkpointIntervalMs: 0 })) as DurableStore;
  const r = await s.startRollout({ input: 1 });
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 12; i++)
    pending.push(s.addSpans(Array.from({ length: 1000 }, (_, j) => makeSpan(r.rolloutId, r.attempt.attemptId, { name: `n${j % 3}` }))));
  await Promise.all(pending);
  await s.flush();
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  const rows = (
    await c.runAndReadAll(
      `SELECT count(*)::INT AS n, count(DISTINCT sequence_id)::INT AS d, min(sequence_id)::INT AS lo, max(sequence_id)::INT AS hi FROM read_parquet('${join(dir, "spans", "part-*.parquet")}')`,
    )
  ).getRowObjectsJS();
  assert.deepEqual(rows, [{ n: 12000, d: 12000, lo: 0, hi: 11999 }]);
  c.closeSync();
  db.closeSync();
  await s.close();
  const again = await openStore(dir);
  // 333 of every 1000 have j % 3 === 1.
  assert.equal((await again.querySpans({ name: "n1" })).length, 12 * 333);
  assert.equal((await again.statistics()).spans, 12000);
  await again.close();
});

test("openStore rejects bad directories and options with clear errors", async () => {
  await assert.rejects(openStore(freshDir(), { fsync: "sometimes" as never }), /fsync/);
  await assert.rejects(openStore(freshDir(), { readOnly: true }), /does not exist/);
  await assert.rejects(openStore(undefined, { readOnly: true }), /readOnly/);
  const file = join(root, "plain-file");
  writeFileSync(file, "x");
  await assert.rejects(openStore(file));
});

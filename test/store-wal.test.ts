// The write-ahead log's framing: records with span blocks decode to exactly
// what was written, any tear or flipped byte ends the log at the last whole
// record, and a directory logged in the first format (spans inside payloads)
// still opens and seals into Parquet.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { decodeRecords, encodeRecord, type WalRecord } from "../src/store/wal.js";
import { openStore } from "../src/store/index.js";
import { STORE_LAYOUT } from "../src/store/parquet-layout.js";
import type { Span } from "../src/types/index.js";

const root = mkdtempSync(join(tmpdir(), "arclight-wal-"));
after(() => rmSync(root, { recursive: true, force: true }));

function span(i: number, extra: Partial<Span> = {}): Span {
  return {
    rolloutId: "ro-1",
    attemptId: "at-1",
    sequenceId: i,
    traceId: "ab".repeat(16),
    spanId: i.toString(16).padStart(16, "0"),
    parentId: i ? (i - 1).toString(16).padStart(16, "0") : null,
    name: i % 2 ? "chat" : "agentlightning.reward",
    status: { statusCode: "OK", description: null },
    // Non-ASCII and escapes: the block is sized in UTF-16 units and written as UTF-8.
    attributes: { text: `héllo ✓ 🎉 "q" \\ \n line ${i}`, n: i, nested: { a: [1, 2, { b: null }] } },
    events: [{ name: "e", timestamp: 1, attributes: { x: "y" } }],
    links: [],
    startTime: 1700000000000.5 + i,
    endTime: 1700000000001.25 + i,
    resource: { attributes: { "service.name": "t" }, schemaUrl: "" },
    ...extra,
  };
}

const records: WalRecord[] = [
  { attempts: [], spans: [span(0), span(1), span(2)] },
  { latestResourcesId: "rs-1" },
  { spans: [span(3)] },
  { spans: [] },
];

test("records with and without span blocks decode to exactly what was encoded", () => {
  const buf = Buffer.concat(records.map(encodeRecord));
  const r = decodeRecords(buf);
  assert.equal(r.validBytes, buf.length);
  assert.equal(r.inlineSpans, 0);
  assert.deepEqual(r.records, records);
  // Every line is JSON on its own (DuckDB reads the segment as NDJSON).
  const lines = buf.toString("utf8").split("\n");
  assert.equal(lines.pop(), "");
  for (const l of lines) JSON.parse(l);
  assert.equal(lines.length, 1 + 3 + 1 + 1 + 1 + 1);
});

test("a log cut at any byte keeps exactly the records that were whole", () => {
  const parts = records.map(encodeRecord);
  const buf = Buffer.concat(parts);
  const ends: number[] = [];
  let off = 0;
  for (const p of parts) ends.push((off += p.length));
  for (let cut = 0; cut <= buf.length; cut++) {
    const r = decodeRecords(buf.subarray(0, cut));
    const whole = ends.filter((e) => e <= cut).length;
    assert.equal(r.records.length, whole, `cut at ${cut}`);
    assert.equal(r.validBytes, whole ? ends[whole - 1] : 0, `cut at ${cut}`);
  }
});

test("a flipped byte in a header or a span line ends the log at the record before it", () => {
  const parts = records.map(encodeRecord);
  const buf = Buffer.concat(parts);
  for (let at = 0; at < parts[0].length; at += 7) {
    const bad = Buffer.from(buf);
    bad[at] ^= 0x04;
    const r = decodeRecords(bad);
    assert.equal(r.records.length, 0, `flip at ${at}`);
  }
  const second = parts[0].length;
  const bad = Buffer.from(buf);
  bad[second + 10] ^= 0x01;
  assert.equal(decodeRecords(bad).records.length, 1);
});

test("a directory logged in the first format (spans inside payloads) reopens and seals its spans into Parquet", async () => {
  const dir = join(root, "legacy");
  mkdirSync(join(dir, STORE_LAYOUT.walDir), { recursive: true });
  mkdirSync(join(dir, STORE_LAYOUT.spansDir), { recursive: true });
  // Build a current-format log for the rollout and attempt, then append a first-format span record.
  const src = await openStore(join(root, "legacy-src"), { checkpointIntervalMs: 0 });
  const { attempt } = await src.startRollout({ input: 1, rolloutId: "ro-1" });
  await src.close();
  const snap = readdirSync(join(root, "legacy-src")).find((f) => f.startsWith("snapshot-"))!;
  writeFileSync(join(dir, snap), readFileSync(join(root, "legacy-src", snap), "utf8"));
  const spans = [span(0, { attemptId: attempt.attemptId }), span(1, { attemptId: attempt.attemptId })];
  const payload = Buffer.from(JSON.stringify({ spans }), "utf8");
  const segment = Number(/\d+/.exec(snap)![0]) + 1;
  writeFileSync(
    join(dir, STORE_LAYOUT.walDir, STORE_LAYOUT.walFile(segment)),
    Buffer.concat([Buffer.from(`{"c":${crc32(payload)},"r":`), payload, Buffer.from("}\n")]),
  );
  const s = await openStore(dir);
  assert.deepEqual(
    (await s.querySpans({ rolloutId: "ro-1" })).map((x) => x.spanId),
    spans.map((x) => x.spanId),
  );
  await s.close();
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  const rows = (
    await c.runAndReadAll(`SELECT span_id, attributes FROM read_parquet('${join(dir, STORE_LAYOUT.partsGlob)}') ORDER BY sequence_id`)
  ).getRowsJS();
  assert.deepEqual(
    rows.map((r) => r[0]),
    spans.map((x) => x.spanId),
  );
  assert.deepEqual(JSON.parse(rows[0][1] as string), spans[0].attributes);
  c.closeSync();
  db.closeSync();
});

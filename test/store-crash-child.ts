// Writer child for test/store-crash.test.ts (not a test file itself).
//   node --import tsx store-crash-child.ts <dir> <rolloutId>
// Opens the store, starts rollout <rolloutId> and writes span batches forever,
// printing "ack <rolloutId> <attemptId> <firstSeq> <lastSeq>" once each batch
// is acknowledged. ARCLIGHT_CRASH_AT names a moment at which it SIGKILLs
// itself, ARCLIGHT_CRASH_NTH at which occurrence (default 1):
//   part-tmp          a part's temp file is complete, before its rename
//   part-renamed      a part is in place, before its snapshot
//   snapshot-write    a snapshot's temp file is half written
//   snapshot-renamed  a snapshot is in place, before the old segments go
//   wal-roll          a new WAL segment was just created
//   recovery          while openStore recovers the directory (a part or snapshot rename)
// The hooks wrap node:fs/promises before the store is imported, so the store
// runs unchanged.

import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const fsp = require("node:fs/promises") as typeof import("node:fs/promises");
const fs = require("node:fs") as typeof import("node:fs");

const [dir, rolloutId] = process.argv.slice(2);
const moment = process.env.ARCLIGHT_CRASH_AT ?? "";
let left = Number(process.env.ARCLIGHT_CRASH_NTH ?? 1);
let opening = true;

const die = (): never => {
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
};
const at = (m: string, when: boolean) => moment === m && when && --left <= 0;

const realRename = fsp.rename;
fsp.rename = async (from, to) => {
  const f = String(from);
  const part = /part-\d+\.parquet\.tmp$/.test(f);
  const snapshot = /snapshot-\d+\.json\.tmp$/.test(f);
  if (at("recovery", opening && (part || snapshot))) die();
  if (at("part-tmp", !opening && part)) die();
  if (at("snapshot-write", !opening && snapshot)) {
    fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2));
    die();
  }
  await realRename(from, to);
  if (at("part-renamed", !opening && part)) die();
  if (at("snapshot-renamed", !opening && snapshot)) die();
};
const realOpen = fsp.open;
fsp.open = (async (path: string, flags?: string, mode?: number) => {
  const fh = await realOpen(path, flags, mode);
  if (at("wal-roll", !opening && flags === "a" && /wal-\d+\.log$/.test(String(path)))) die();
  return fh;
}) as typeof fsp.open;
syncBuiltinESMExports();

// The test's process going away takes the writer with it.
process.on("disconnect", () => process.exit(0));

const { openStore } = await import("../src/store/index.js");
const s = await openStore(dir, { parquetRollSpans: 120, checkpointIntervalMs: 0 });
opening = false;
const r = await s.startRollout({ input: rolloutId, rolloutId });
const aid = r.attempt.attemptId;
for (let i = 0; ; i++) {
  const spans = await s.addSpans(
    Array.from({ length: 15 }, (_, j) => ({
      rolloutId,
      attemptId: aid,
      traceId: "ab".repeat(16),
      spanId: (i * 15 + j + 1).toString(16).padStart(16, "0"),
      parentId: null,
      name: `b${i}`,
      status: { statusCode: "OK" as const },
      attributes: { i, j },
      events: [],
      links: [],
      startTime: 1000 + i,
      endTime: 1001 + i,
      resource: { attributes: {}, schemaUrl: "" },
    })),
  );
  process.stdout.write(`ack ${rolloutId} ${aid} ${spans[0].sequenceId} ${spans[spans.length - 1].sequenceId}\n`);
}

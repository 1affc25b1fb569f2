// Readers beside a writer that crashes: a checkpoint cut short, recovery, and
// SIGKILL at the dangerous moments of a live run (store-crash-child.ts), with
// a read-only follower polling throughout. Every acknowledged span is there
// exactly once, and no reader ever fails.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DurableStore, openStore, type LightningStore } from "../src/store/index.js";
import { SpanParquetIO } from "../src/store/parquet-io.js";
import type { Span } from "../src/types/index.js";
import { makeSpan } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-crash-"));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => join(root, `d${++n}`);
const CHILD = join(import.meta.dirname, "store-crash-child.ts");

function crashCopy(dir: string): string {
  const to = freshDir();
  cpSync(dir, to, { recursive: true });
  rmSync(join(to, "writer.lock"), { force: true });
  return to;
}

const lastSeg = (dir: string) => Number(/\d+/.exec(readdirSync(join(dir, "wal")).sort().at(-1)!)![0]);
const partFile = (dir: string, seg: number) => join(dir, "spans", `part-${String(seg).padStart(6, "0")}.parquet`);

/** Each span once; per rollout the sequence ids, sorted. */
function seqsByRollout(spans: Span[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const seen = new Set<string>();
  for (const s of spans) {
    const key = `${s.rolloutId}/${s.attemptId}/${s.sequenceId}`;
    assert.ok(!seen.has(key), `span ${key} seen twice`);
    seen.add(key);
    let xs = out.get(s.rolloutId);
    if (!xs) out.set(s.rolloutId, (xs = []));
    xs.push(s.sequenceId);
  }
  for (const xs of out.values()) xs.sort((a, b) => a - b);
  return out;
}

/** A directory as a crash leaves it after a checkpoint wrote segment N's part but not its snapshot. */
async function cutShortCheckpoint(): Promise<{ dir: string; spans: number }> {
  const dir = freshDir();
  const w = await openStore(dir, { checkpointIntervalMs: 0 });
  const r = await w.startRollout({ input: 1, rolloutId: "ro-cut" });
  await w.addSpans(Array.from({ length: 40 }, (_, i) => makeSpan("ro-cut", r.attempt.attemptId, { name: `s${i}` })));
  await (w as DurableStore).flush();
  await w.addSpans(Array.from({ length: 30 }, (_, i) => makeSpan("ro-cut", r.attempt.attemptId, { name: `t${i}` })));
  const crashed = crashCopy(dir);
  await w.close();
  const seg = lastSeg(crashed);
  const io = new SpanParquetIO();
  await io.writePartFromWal(join(crashed, "wal", readdirSync(join(crashed, "wal")).sort().at(-1)!), partFile(crashed, seg));
  io.close();
  return { dir: crashed, spans: 70 };
}

test("recovering a checkpoint cut short keeps its complete part: readers polling throughout never miss a file and see every span once", {
  timeout: 60_000,
}, async () => {
  const { dir, spans } = await cutShortCheckpoint();
  const part = partFile(dir, lastSeg(dir));
  const before = statSync(part);
  const reader = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
  assert.equal((await reader.querySpans()).length, spans);
  let done = false;
  let polls = 0;
  const polling = (async () => {
    while (!done) {
      await reader.refresh!();
      assert.equal((await reader.querySpans({ rolloutId: "ro-cut" })).length, spans);
      const fresh = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
      assert.equal((await fresh.querySpans()).length, spans);
      await fresh.close();
      polls++;
    }
  })().catch((e: unknown) => e);
  const w = await openStore(dir);
  done = true;
  const failed = await polling;
  if (failed) throw failed;
  assert.ok(polls >= 1);
  const after = statSync(part);
  assert.equal(after.ino, before.ino, "the part was replaced");
  assert.equal(after.mtimeMs, before.mtimeMs, "the part was rewritten");
  assert.equal((await w.querySpans()).length, spans);
  await w.close();
  await reader.refresh!();
  assert.equal((await reader.querySpans()).length, spans);
  await reader.close();
});

test("a reader whose listed part vanished (an earlier writer replaced it) reloads and answers once more", { timeout: 30_000 }, async () => {
  const { dir, spans } = await cutShortCheckpoint();
  const reader = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
  // The part of the newest segment is cold for this reader; the segment's log is still there.
  unlinkSync(partFile(dir, lastSeg(dir)));
  const got = await reader.querySpans({ rolloutId: "ro-cut" });
  assert.equal(got.length, spans);
  assert.deepEqual(
    [...seqsByRollout(got).get("ro-cut")!],
    Array.from({ length: spans }, (_, i) => i),
  );
  await reader.close();
});

// ---------------------------------------------------------------------------

interface Ack {
  attemptId: string;
  last: number;
}

/** Runs one writer child until it kills itself at `moment` (or is killed after `maxMs`); acks go to `acked`. */
function runWriter(
  dir: string,
  rolloutId: string,
  moment: string,
  nth: number,
  acked: Map<string, Ack>,
  maxMs: number,
): Promise<{ signal: NodeJS.Signals | null; code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, rolloutId], {
      stdio: ["ignore", "pipe", "inherit", "ipc"],
      env: { ...process.env, ARCLIGHT_CRASH_AT: moment, ARCLIGHT_CRASH_NTH: String(nth) },
    });
    children.add(child);
    let buf = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, maxMs);
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        const [kind, rid, aid, , last] = line.split(" ");
        if (kind === "ack") acked.set(rid, { attemptId: aid, last: Number(last) });
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, timedOut });
    });
  });
}

test("SIGKILL at a part's temp file, a part without snapshot, a half-written snapshot, a WAL roll and during recovery: a follower never errors and every acknowledged span is there once", {
  timeout: 120_000,
}, async (t) => {
  const dir = freshDir();
  const acked = new Map<string, Ack>();
  const errors: unknown[] = [];
  let reader: LightningStore | null = null;
  let done = false;
  let polls = 0;
  /** Each acknowledged span, in every answer given after it was acknowledged. */
  const check = (spans: Span[], want: Map<string, Ack>, who: string) => {
    const got = seqsByRollout(spans);
    for (const [rid, a] of want) {
      const seqs = got.get(rid) ?? [];
      assert.ok(
        seqs.length >= a.last + 1 && seqs[a.last] === a.last,
        `${who}: rollout ${rid} acknowledged up to ${a.last}, saw ${seqs.length} spans`,
      );
    }
  };
  const follow = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 15));
      if (!existsSync(join(dir, "wal"))) continue;
      try {
        reader ??= await openStore(dir, { readOnly: true, followIntervalMs: 0 });
        const want = new Map(acked);
        await reader.refresh!();
        check(await reader.querySpans(), want, "follower");
        if (polls % 5 === 0) {
          const fresh = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
          check(await fresh.querySpans(), want, "fresh reader");
          await fresh.close();
        }
        polls++;
      } catch (e) {
        errors.push(e);
      }
    }
  })();
  const moments: [string, number][] = [
    ["part-tmp", 1],
    ["part-renamed", 2],
    ["snapshot-write", 1],
    ["wal-roll", 2],
    ["recovery", 1],
    ["snapshot-renamed", 1],
  ];
  const planned: string[] = [];
  try {
    for (const [i, [moment, nth]] of moments.entries()) {
      const t0 = Date.now();
      const r = await runWriter(dir, `ro-c${i}`, moment, nth, acked, 15_000);
      t.diagnostic(
        `cycle ${i} ${moment}#${nth}: ${r.timedOut ? "timer" : "planned"} after ${Date.now() - t0} ms, acked up to ${acked.get(`ro-c${i}`)?.last ?? "-"}`,
      );
      assert.equal(r.signal, "SIGKILL", `cycle ${i} (${moment}): the writer exited with ${r.code}`);
      if (!r.timedOut) planned.push(moment);
      if (errors.length) break;
    }
  } finally {
    done = true;
    await follow;
  }
  assert.deepEqual(errors.map(String), []);
  // Most crashes came at the moment planned, not at the fallback timer.
  assert.ok(planned.length >= moments.length - 2, `planned crashes: ${planned.join(", ")}`);
  assert.ok(acked.size >= 3 && polls > 10, `acked ${acked.size} rollouts, ${polls} polls`);
  const w = await openStore(dir);
  // Recovery leaves no temp file of a write a crash cut short.
  assert.deepEqual(
    [...readdirSync(dir), ...readdirSync(join(dir, "spans"))].filter((f) => f.endsWith(".tmp")),
    [],
  );
  const spans = await w.querySpans();
  check(spans, acked, "writer after the last crash");
  for (const [rid, a] of acked) assert.equal((await w.querySpans({ rolloutId: rid, attemptId: a.attemptId })).length >= a.last + 1, true);
  await w.close();
  await (reader as LightningStore | null)?.close();
});

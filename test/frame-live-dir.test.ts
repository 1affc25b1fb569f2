// Frames over a directory another process is writing: every read sees every
// span acknowledged before it started, each exactly once, while Parquet parts
// roll and the WAL tail moves under it (the writer is test/store-child.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { frames } from "../src/frame/index.js";
import { listStoreDir } from "../src/store/store-dir.js";

const CHILD = join(import.meta.dirname, "store-child.ts");

test("frames.spans and rolloutSummary of a directory being written see each acknowledged span once", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-frame-live-"));
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, "write", dir], { stdio: ["ignore", "pipe", "inherit"] });
  let acked = -1;
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const line of lines) {
      const [kind, , b] = line.split(" ");
      if (kind === "spans") acked = Number(b);
    }
  });
  const exited = new Promise((r) => child.once("exit", r));
  try {
    while (acked < 100) {
      if (child.exitCode !== null) throw new Error(`writer exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    let sawParts = false;
    let sawTail = false;
    let last = 0;
    for (let round = 0; round < 6 || !(sawParts && sawTail); round++) {
      assert.ok(round < 40, "the writer never produced both Parquet parts and a WAL tail");
      const before = acked;
      const t = await frames.spans(dir, { rolloutId: "ro-crash" }, { columns: ["sequence_id", "span_id", "name"], flatten: ["i", "j"] });
      const seqs = t.array("sequence_id") as number[];
      const unique = new Set(seqs);
      assert.equal(unique.size, seqs.length, "a span read twice");
      for (let s = 0; s <= before; s++) assert.ok(unique.has(s), `acknowledged span ${s} missing (read ${seqs.length})`);
      assert.ok(seqs.length >= last, "a later read saw fewer spans");
      last = seqs.length;
      // Attribute columns come from the same rows: i is the batch number in the span name.
      const names = t.array("name") as string[];
      const is = t.array("i") as number[];
      names.forEach((n, k) => assert.equal(n, `step-${is[k]}`));
      const summary = (await frames.rolloutSummary(dir)).objects() as { rollout_id: string; spans: number }[];
      const crash = summary.find((r) => r.rollout_id === "ro-crash")!;
      assert.ok(crash.spans >= before + 1, `rolloutSummary counts ${crash.spans} spans, ${before + 1} acknowledged`);
      const { parts, segments } = listStoreDir(dir);
      sawParts ||= parts.size > 0;
      sawTail ||= [...segments].some((n) => !parts.has(n));
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

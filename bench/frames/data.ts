// The frames bench's data: N seeded spans (50 per rollout; every 10th a
// reward, every 5th an LLM call) written as Parquet parts in the store's
// layout by the store's own writer. Written once per (N, dir) and reused:
// a marker file says the set is complete.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpanParquetIO } from "../../src/store/parquet-io.js";
import { STORE_LAYOUT } from "../../src/store/parquet-layout.js";
import { partPath } from "../../src/store/store-dir.js";
import { seededRandom } from "../../src/frame/index.js";
import type { Span } from "../../src/types/index.js";

export const PER_ROLLOUT = 50;
const PER_PART = 100_000;
const SEED = 42;

export const benchDir = (n: number) => process.env.FRAMES_BENCH_DIR ?? join(tmpdir(), `arclight-bench-frames-${n}`);

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
      attributes = {
        "agentlightning.reward": JSON.stringify({ score: v }),
        "agentlightning.reward.0.name": "score",
        "agentlightning.reward.0.value": v,
      };
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
      traceId: Math.floor(rand() * 2 ** 52)
        .toString(16)
        .padStart(32, "0"),
      spanId: Math.floor(rand() * 2 ** 52)
        .toString(16)
        .padStart(16, "0"),
      parentId:
        k === 0
          ? null
          : Math.floor(rand() * 2 ** 52)
              .toString(16)
              .padStart(16, "0"),
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

export async function ensureData(DIR: string, N: number): Promise<void> {
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
  console.log(
    `wrote ${N} spans in ${Math.ceil(N / PER_PART)} parts, ${(bytes / 1e6).toFixed(1)} MB, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  rmSync(marker, { force: true });
  writeFileSync(marker, "");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.env.SPANS ?? 1_000_000);
  await ensureData(benchDir(n), n);
}

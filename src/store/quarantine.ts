// Spans a WAL holds that the store cannot keep exactly as they are: records
// an earlier version acknowledged before it checked text and times at the
// boundary (a lone UTF-16 surrogate makes DuckDB refuse the whole segment).
// They are set aside, never folded, so one bad span cannot make a directory
// unopenable; the writer moves them to quarantine/ (parquet-layout.ts).

import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Span } from "../types/span.js";
import { fsyncDir, writeFileAtomic } from "./fs-durable.js";
import { STORE_LAYOUT } from "./parquet-layout.js";
import { spanStorageProblem, MAX_SPAN_TIME_MS } from "./span-input.js";

export interface SetAsideSpan {
  problem: string;
  span: Span;
}

/** JSON.stringify writes a lone surrogate as a \udXXX escape; a block without one needs no text walk. */
const ESCAPES = [Buffer.from("\\ud"), Buffer.from("\\uD")];

/**
 * Splits spans read back from one WAL record into those the store keeps and
 * those it sets aside. `block` is the record's span lines as they lie in the
 * file (null for the first record format): when it holds no surrogate escape
 * only the times are checked. Returns null when every span is kept.
 */
export function screenSpans(spans: readonly Span[], block: Buffer | null): { kept: Span[]; setAside: SetAsideSpan[] } | null {
  const text = block === null || ESCAPES.some((e) => block.includes(e));
  let out: { kept: Span[]; setAside: SetAsideSpan[] } | null = null;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    const timesOk = Math.abs(s.startTime) <= MAX_SPAN_TIME_MS && Math.abs(s.endTime) <= MAX_SPAN_TIME_MS;
    const problem = timesOk && !text ? null : spanStorageProblem(s);
    if (problem === null) {
      out?.kept.push(s);
      continue;
    }
    out ??= { kept: spans.slice(0, i), setAside: [] };
    out.setAside.push({ problem, span: s });
  }
  return out;
}

export const quarantinePath = (dir: string, segment: number) => join(dir, STORE_LAYOUT.quarantineDir, STORE_LAYOUT.quarantineFile(segment));

/** Writes the set-aside spans of a segment, durably, before the segment may be deleted. */
export async function writeQuarantine(dir: string, segment: number, spans: readonly SetAsideSpan[]): Promise<string> {
  const qdir = join(dir, STORE_LAYOUT.quarantineDir);
  if (!existsSync(qdir)) {
    mkdirSync(qdir, { recursive: true });
    await fsyncDir(dir, true);
  }
  const path = quarantinePath(dir, segment);
  // JSON.stringify escapes lone surrogates, so the file is plain UTF-8 and JSON.parse gives the span back as it was logged.
  await writeFileAtomic(path, spans.map((x) => `${JSON.stringify({ segment, problem: x.problem, span: x.span })}\n`).join(""));
  return path;
}

/** Per segment, how many spans its quarantine file holds. */
export function listQuarantined(dir: string): Map<number, number> {
  const qdir = join(dir, STORE_LAYOUT.quarantineDir);
  const out = new Map<number, number>();
  if (!existsSync(qdir)) return out;
  for (const f of readdirSync(qdir)) {
    const m = QUARANTINE_FILE.exec(f);
    if (!m) continue;
    try {
      const text = readFileSync(join(qdir, f), "utf8");
      let n = 0;
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
      out.set(Number(m[1]), n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return out;
}

const QUARANTINE_FILE = /^wal-(\d{6,})\.jsonl$/;

// Write-ahead log segments: framed, checksummed JSON records with group
// commit, so many concurrent writers share one fsync.

import { closeSync, fsyncSync, openSync, readFileSync, ftruncateSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import type { Attempt, ResourcesUpdate, Rollout, Span, Worker } from "../types/index.js";
import { blockBytes, encodeSpanBlock } from "./span-list.js";

/** How an append is acknowledged. */
export type FsyncPolicy = "always" | "batch" | "none";

/** A rollout as logged: the record plus its place in the dequeue order. */
export interface LoggedRollout {
  rollout: Rollout;
  /** Queue position key (monotonic counter) while queuing/requeuing; null otherwise. */
  queuedAt: number | null;
}

/** One WAL record: everything one mutation changed, replayed as upserts (spans appended). */
export interface WalRecord {
  rollouts?: LoggedRollout[];
  attempts?: Attempt[];
  spans?: Span[];
  resources?: ResourcesUpdate[];
  workers?: Worker[];
  latestResourcesId?: string;
}

/**
 * Record framing. A record without spans is one line:
 *
 *   {"c":<crc32>,"r":<payload JSON>}\n
 *
 * A record with spans is a header line followed by a block of `b` bytes, one
 * span per line:
 *
 *   {"c":<crc32>,"b":<block bytes>,"r":<payload JSON without spans>}\n
 *   <span JSON>\n <span JSON>\n ...
 *
 * The CRC covers the payload's UTF-8 and then the block, so a record is whole
 * or torn as one. JSON never holds a raw newline, so lines frame everything,
 * and a segment stays newline-delimited JSON: DuckDB's read_json turns the
 * span lines into Parquet columns at checkpoints without the spans passing
 * through JavaScript again. Spans as flat lines rather than an array inside
 * the payload: DuckDB parses them ~3x faster (no list-of-struct unnesting),
 * and V8 writes many small strings into a buffer faster than one large one
 * (measured 1.8 vs 3.1 us per span; bench/store). Records written as one line
 * with `spans` inside the payload (the first format) still decode.
 */
const PREFIX = '{"c":';
const BLOCK = ',"b":';
const MID = ',"r":';
const NL = 0x0a;
/** Room before the payload for the longest header: 10 CRC digits and a 15-digit block size. */
const HEAD_ROOM = PREFIX.length + 10 + BLOCK.length + 15 + MID.length;

/**
 * One record's bytes, as the header line and (when it has spans) the block
 * of span lines, written with one writev. `spanLines` is the record's spans
 * already encoded as JSON lines (the store encodes them once, for memory and
 * the log, and the block is not copied again); without it, `rec.spans` is
 * encoded here.
 */
export function encodeRecordParts(rec: WalRecord, spanLines: Buffer | null = null): Buffer[] {
  const block = spanLines?.length ? spanLines : rec.spans?.length ? blockBytes(encodeSpanBlock(rec.spans)) : null;
  const json = JSON.stringify(block ? { ...rec, spans: undefined } : rec);
  // UTF-8 needs at most 3 bytes per UTF-16 unit. Sizing by that bound skips a byteLength pass over
  // the string (as costly as the write itself).
  const out = Buffer.allocUnsafe(HEAD_ROOM + json.length * 3 + 2);
  const payloadAt = HEAD_ROOM;
  const payloadEnd = payloadAt + out.write(json, payloadAt, "utf8");
  out[payloadEnd] = 0x7d; // }
  out[payloadEnd + 1] = NL;
  let sum = crc32(out.subarray(payloadAt, payloadEnd));
  if (block) sum = crc32(block, sum);
  const head = block ? `${PREFIX}${sum}${BLOCK}${block.length}${MID}` : `${PREFIX}${sum}${MID}`;
  const start = payloadAt - head.length;
  out.write(head, start, "latin1");
  const header = out.subarray(start, payloadEnd + 2);
  return block ? [header, block] : [header];
}

/** One record's bytes in one buffer. */
export function encodeRecord(rec: WalRecord, spanLines: Buffer | null = null): Buffer {
  return Buffer.concat(encodeRecordParts(rec, spanLines));
}

export interface WalReadResult {
  records: WalRecord[];
  /** Per record, its span lines as they lie in the file (null when it has none, or had them inline). */
  blocks: (Buffer | null)[];
  /** Bytes up to the end of the last good record. */
  validBytes: number;
  totalBytes: number;
  /** Spans found inside record payloads (the first format), which DuckDB cannot read from the segment. */
  inlineSpans: number;
}

const PREFIX_BYTES = Buffer.from(PREFIX);
const BLOCK_BYTES = Buffer.from(BLOCK);
const MID_BYTES = Buffer.from(MID);

/** Decodes records until the end or the first torn/corrupt one (which ends the log). */
export function decodeRecords(buf: Buffer): WalReadResult {
  const records: WalRecord[] = [];
  const blocks: (Buffer | null)[] = [];
  let off = 0;
  let inlineSpans = 0;
  while (off < buf.length) {
    const r = decodeRecordAt(buf, off);
    if (!r) break;
    records.push(r.rec);
    blocks.push(r.block);
    inlineSpans += r.inlineSpans;
    off = r.next;
  }
  return { records, blocks, validBytes: off, totalBytes: buf.length, inlineSpans };
}

/** Digits of a decimal field at `at` up to `until` (1-15 of them), else null. */
function readInt(line: Buffer, at: number, until: number): number | null {
  if (until <= at || until - at > 15) return null;
  let n = 0;
  for (let i = at; i < until; i++) {
    const d = line[i] - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return n;
}

function decodeRecordAt(buf: Buffer, off: number): { rec: WalRecord; block: Buffer | null; next: number; inlineSpans: number } | null {
  const end = buf.indexOf(NL, off);
  if (end < 0) return null; // torn: the header never got its newline
  const line = buf.subarray(off, end);
  if (
    line.length < PREFIX.length + MID.length + 3 ||
    !line.subarray(0, PREFIX.length).equals(PREFIX_BYTES) ||
    line[line.length - 1] !== 0x7d
  )
    return null;
  const comma = line.indexOf(0x2c, PREFIX.length);
  const sum = readInt(line, PREFIX.length, comma);
  if (sum === null || sum > 0xffffffff) return null;
  let at = comma;
  let blockBytes = 0;
  if (line.subarray(at, at + BLOCK.length).equals(BLOCK_BYTES)) {
    const next = line.indexOf(0x2c, at + BLOCK.length);
    const b = readInt(line, at + BLOCK.length, next);
    if (b === null || b === 0) return null;
    blockBytes = b;
    at = next;
  }
  if (!line.subarray(at, at + MID.length).equals(MID_BYTES)) return null;
  const payload = line.subarray(at + MID.length, line.length - 1);
  const blockAt = end + 1;
  const blockEnd = blockAt + blockBytes;
  if (blockEnd > buf.length || (blockBytes && buf[blockEnd - 1] !== NL)) return null; // torn inside the block
  let c = crc32(payload);
  if (blockBytes) c = crc32(buf.subarray(blockAt, blockEnd), c);
  if (c !== sum) return null;
  try {
    const rec = JSON.parse(payload.toString("utf8")) as WalRecord;
    const inlineSpans = rec.spans?.length ?? 0;
    // One parse for the whole block: its lines joined as a JSON array.
    if (blockBytes) rec.spans = JSON.parse(`[${buf.toString("utf8", blockAt, blockEnd - 1).replaceAll("\n", ",")}]`) as Span[];
    return { rec, block: blockBytes ? buf.subarray(blockAt, blockEnd) : null, next: blockEnd, inlineSpans };
  } catch {
    return null;
  }
}

export function readWalFile(path: string): WalReadResult {
  return decodeRecords(readFileSync(path));
}

/** Cuts a torn tail off a segment so new records never follow garbage. Returns bytes removed. */
export function truncateTornTail(path: string): { result: WalReadResult; removed: number } {
  const result = readWalFile(path);
  const removed = result.totalBytes - result.validBytes;
  if (removed > 0) {
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, result.validBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return { result, removed };
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Appends records to one segment file. `append` resolves once the record is
 * durable under the policy: "batch" writes every record queued while the
 * previous write+fsync ran in one writev+fdatasync (group commit); "always"
 * fsyncs each record on its own; "none" resolves after the write reached the
 * OS (survives a killed process, not a power cut).
 */
export class WalSegmentWriter {
  private fh: FileHandle | null = null;
  private queue: Buffer[][] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private failed: unknown = null;
  private dirSynced = false;
  private drained: Promise<void> = Promise.resolve();
  private resolveDrained: (() => void) | null = null;
  bytes = 0;

  constructor(
    readonly path: string,
    private readonly policy: FsyncPolicy,
    /** Earlier segment's drain: records here must not become durable before those. */
    private readonly after: Promise<void>,
    private readonly syncDir: () => Promise<void>,
  ) {}

  /** Appends one record, given as the buffers it is made of (written in order, with no copy). */
  append(parts: Buffer[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    for (const p of parts) this.bytes += p.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push(parts);
      this.waiters.push({ resolve, reject });
      if (!this.running) this.start();
    });
  }

  /** Resolves when every record appended so far is durable (or failed). */
  drain(): Promise<void> {
    return this.running ? this.drained : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.fh) {
      await this.fh.close();
      this.fh = null;
    }
  }

  private start(): void {
    this.running = true;
    this.drained = new Promise<void>((r) => (this.resolveDrained = r));
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      await this.after;
      if (!this.fh) this.fh = await open(this.path, "a");
      while (this.queue.length) {
        const n = this.policy === "always" ? 1 : this.queue.length;
        const bufs = this.queue.splice(0, n);
        const waiters = this.waiters.splice(0, n);
        try {
          await writeAll(this.fh, bufs.flat());
          if (this.policy !== "none") await this.fh.datasync();
          if (!this.dirSynced) {
            // A new segment's directory entry must be durable before its records count.
            await this.syncDir();
            this.dirSynced = true;
          }
          for (const w of waiters) w.resolve();
        } catch (e) {
          this.failed = e;
          for (const w of waiters) w.reject(e);
          for (const w of this.waiters.splice(0)) w.reject(e);
          this.queue.length = 0;
        }
      }
    } catch (e) {
      this.failed = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
      this.queue.length = 0;
    } finally {
      this.running = false;
      this.resolveDrained?.();
    }
  }
}

/** Most buffers handed to one writev (IOV_MAX is 1024 on Linux). */
const IOV_MAX = 1024;

/** writev of every buffer in order; a write may be partial, so it resumes where the last one stopped. */
async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  let i = 0;
  let off = 0;
  while (i < bufs.length) {
    const batch: Buffer[] = [];
    for (let j = i; j < bufs.length && batch.length < IOV_MAX; j++) batch.push(j === i ? bufs[j].subarray(off) : bufs[j]);
    let n = (await fh.writev(batch)).bytesWritten;
    while (i < bufs.length && n >= bufs[i].length - off) {
      n -= bufs[i].length - off;
      i++;
      off = 0;
    }
    off += n;
  }
}

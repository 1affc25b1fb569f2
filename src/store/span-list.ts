// How a store holds spans in memory: as the UTF-8 JSON lines of the block
// each ingest call encodes (the same bytes the WAL writes), indexed per
// attempt by sequence id and name. Buffers live outside the JS heap, so a
// million retained spans cost the garbage collector a few arrays instead of
// fifteen objects each: keeping span objects made survivor copying 60% of
// ingest time (bench/store, --trace-gc), and the bytes are produced for the
// WAL anyway. Reads parse a fresh copy, so callers can never alias the store.

import type { Span } from "../types/span.js";

const NL = 0x0a;

/** Spans encoded as newline-terminated JSON lines; span i is `buf[starts[i], ends[i])`. */
export interface SpanBlock {
  buf: Buffer;
  starts: number[];
  ends: number[];
}

/** Encodes spans as one block of JSON lines in a fresh buffer (the WAL's path for records it encodes itself). */
export function encodeSpanBlock(spans: readonly Span[]): SpanBlock {
  return new SpanArena(0).encode(spans);
}

/**
 * Where a store writes its span blocks: large chunks that blocks are carved
 * from, so an ingest call neither allocates (a fresh large buffer per call
 * means an mmap and page faults each time) nor copies its bytes again.
 * Chunks live as long as a span in them does.
 */
export class SpanArena {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;

  constructor(private readonly chunkBytes = 8 << 20) {}

  encode(spans: readonly Span[]): SpanBlock {
    const lines = new Array<string>(spans.length);
    let room = 0;
    for (let i = 0; i < spans.length; i++) {
      lines[i] = JSON.stringify(spans[i]);
      room += lines[i].length * 3 + 1;
    }
    // Sized by the UTF-8 bound (3 bytes per UTF-16 unit): a byteLength pass costs as much as the write.
    // A fresh chunk's untouched slack is never faulted in.
    if (this.chunk.length - this.used < room) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, room));
      this.used = 0;
    }
    const chunk = this.chunk;
    const starts = new Array<number>(spans.length);
    const ends = new Array<number>(spans.length);
    const base = this.used;
    let o = base;
    for (let i = 0; i < lines.length; i++) {
      starts[i] = o - base;
      o += chunk.write(lines[i], o, "utf8");
      ends[i] = o - base;
      chunk[o++] = NL;
    }
    this.used = o;
    return { buf: chunk.subarray(base, o), starts, ends };
  }
}

/** A block already in memory (a WAL segment read back): line boundaries found by scanning for newlines. */
export function indexSpanBlock(buf: Buffer): SpanBlock {
  const starts: number[] = [];
  const ends: number[] = [];
  let o = 0;
  while (o < buf.length) {
    const e = buf.indexOf(NL, o);
    if (e < 0) throw new Error("span block does not end with a newline");
    starts.push(o);
    ends.push(e);
    o = e + 1;
  }
  return { buf, starts, ends };
}

/** One attempt's spans, sorted by sequence id. */
export class SpanList {
  private seqs: number[] = [];
  private names: string[] = [];
  private bufs: Buffer[] = [];
  private starts: number[] = [];
  private ends: number[] = [];

  get length(): number {
    return this.seqs.length;
  }

  sequenceAt(i: number): number {
    return this.seqs[i];
  }

  nameAt(i: number): string {
    return this.names[i];
  }

  /** A fresh copy of span i. */
  read(i: number): Span {
    return JSON.parse(this.bufs[i].toString("utf8", this.starts[i], this.ends[i])) as Span;
  }

  /** First index whose sequence id is >= seq. */
  lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Appends in the common case; an explicit out-of-order sequence id is inserted after its equals. */
  insert(seq: number, name: string, block: SpanBlock, line: number): void {
    const n = this.seqs.length;
    if (!n || this.seqs[n - 1] <= seq) {
      this.seqs.push(seq);
      this.names.push(name);
      this.bufs.push(block.buf);
      this.starts.push(block.starts[line]);
      this.ends.push(block.ends[line]);
      return;
    }
    let i = this.lowerBound(seq);
    while (i < n && this.seqs[i] <= seq) i++;
    this.seqs.splice(i, 0, seq);
    this.names.splice(i, 0, name);
    this.bufs.splice(i, 0, block.buf);
    this.starts.splice(i, 0, block.starts[line]);
    this.ends.splice(i, 0, block.ends[line]);
  }
}

/** Span names repeat endlessly ("chat", "agentlightning.reward"): one string per distinct name. */
export class NameInterner {
  private names = new Map<string, string>();

  intern(name: string): string {
    const had = this.names.get(name);
    if (had !== undefined) return had;
    this.names.set(name, name);
    return name;
  }

  clear(): void {
    this.names.clear();
  }
}

// How a store holds spans in memory: as the UTF-8 JSON lines of the block
// each ingest call encodes (the same bytes the WAL writes), indexed per
// attempt by sequence id and name. Buffers live outside the JS heap, so a
// million retained spans cost the garbage collector a few arrays instead of
// fifteen objects each: keeping span objects made survivor copying 60% of
// ingest time (bench/store, --trace-gc), and the bytes are produced for the
// WAL anyway. Reads parse a fresh copy, so callers can never alias the store.

import type { Span } from "../types/span.js";

const NL = 0x0a;

/**
 * Spans encoded as newline-terminated JSON lines: span i is `buf[starts[i], ends[i])`, the block
 * `buf[start, end)`. `buf` is the arena chunk the block was carved from (shared with other blocks),
 * so a stored span holds no buffer object of its own: a view per block cost one retained object
 * per span when spans come one per call, as a running agent's do.
 */
export interface SpanBlock {
  buf: Buffer;
  start: number;
  end: number;
  starts: number[];
  ends: number[];
}

/** The block's bytes, as the WAL writes them. */
export function blockBytes(b: SpanBlock): Buffer {
  return b.buf.subarray(b.start, b.end);
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
const MAX_SPARE_BYTES = 256 << 20;

export class SpanArena {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;
  /** Chunks written so far with the newest segment each holds a block of, the current one last. */
  private chunks: { buf: Buffer; segment: number }[] = [];
  /** Chunks whose spans were all evicted, kept for reuse: their pages are already faulted in. */
  private spare: Buffer[] = [];

  constructor(private readonly chunkBytes = 8 << 20) {}

  /**
   * Chunks holding only spans of segments <= `segment` become free for new
   * blocks. The caller must have dropped every reference to those spans.
   */
  release(segment: number): void {
    const keep: { buf: Buffer; segment: number }[] = [];
    for (const c of this.chunks) {
      if (c.segment <= segment && c.buf !== this.chunk) {
        // Reusing memory is the point (page faults cost ~13 us per 4 KiB on the VMs measured, 4 us per span).
        // A checkpoint frees about what the next segment needs; beyond MAX_SPARE_BYTES memory goes back.
        if ((this.spare.length + 1) * this.chunkBytes <= MAX_SPARE_BYTES && c.buf.length === this.chunkBytes) this.spare.push(c.buf);
      } else keep.push(c);
    }
    this.chunks = keep;
  }

  encode(spans: readonly Span[], segment = 0): SpanBlock {
    const lines = new Array<string>(spans.length);
    let room = 0;
    for (let i = 0; i < spans.length; i++) {
      lines[i] = JSON.stringify(spans[i]);
      room += lines[i].length * 3 + 1;
    }
    // Sized by the UTF-8 bound (3 bytes per UTF-16 unit): a byteLength pass costs as much as the write.
    // A fresh chunk's untouched slack is never faulted in.
    if (this.chunk.length - this.used < room) {
      this.chunk =
        room <= this.chunkBytes && this.spare.length ? this.spare.pop()! : Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, room));
      this.used = 0;
      this.chunks.push({ buf: this.chunk, segment });
    }
    const chunk = this.chunk;
    const last = this.chunks[this.chunks.length - 1];
    if (last && last.buf === chunk && last.segment < segment) last.segment = segment;
    const starts = new Array<number>(spans.length);
    const ends = new Array<number>(spans.length);
    const base = this.used;
    let o = base;
    for (let i = 0; i < lines.length; i++) {
      starts[i] = o;
      o += chunk.write(lines[i], o, "utf8");
      ends[i] = o;
      chunk[o++] = NL;
    }
    this.used = o;
    return { buf: chunk, start: base, end: o, starts, ends };
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
  return { buf, start: 0, end: buf.length, starts, ends };
}

/** One attempt's spans, sorted by sequence id, each with the WAL segment it was logged in. */
export class SpanList {
  private seqs: number[] = [];
  private segs: number[] = [];
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
  insert(seq: number, name: string, block: SpanBlock, line: number, segment = 0): void {
    const n = this.seqs.length;
    if (!n || this.seqs[n - 1] <= seq) {
      this.seqs.push(seq);
      this.segs.push(segment);
      this.names.push(name);
      this.bufs.push(block.buf);
      this.starts.push(block.starts[line]);
      this.ends.push(block.ends[line]);
      return;
    }
    let i = this.lowerBound(seq);
    while (i < n && this.seqs[i] <= seq) i++;
    this.seqs.splice(i, 0, seq);
    this.segs.splice(i, 0, segment);
    this.names.splice(i, 0, name);
    this.bufs.splice(i, 0, block.buf);
    this.starts.splice(i, 0, block.starts[line]);
    this.ends.splice(i, 0, block.ends[line]);
  }

  /** Drops the spans logged in segments <= `segment` (they are in Parquet now); returns how many. */
  evictUpTo(segment: number): number {
    const n = this.seqs.length;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (this.segs[i] <= segment) continue;
      if (kept !== i) {
        this.seqs[kept] = this.seqs[i];
        this.segs[kept] = this.segs[i];
        this.names[kept] = this.names[i];
        this.bufs[kept] = this.bufs[i];
        this.starts[kept] = this.starts[i];
        this.ends[kept] = this.ends[i];
      }
      kept++;
    }
    if (kept === n) return 0;
    for (const a of [this.seqs, this.segs, this.names, this.bufs, this.starts, this.ends] as unknown[][]) a.length = kept;
    return n - kept;
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

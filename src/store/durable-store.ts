/**
 * The durable embedded LightningStore: a directory with a write-ahead log,
 * Parquet span files and state snapshots (layout in parquet-layout.ts).
 *
 * Acknowledgement and fsync policy (`fsync` option):
 * - "batch" (default): group commit. Every mutation is one WAL record;
 *   records queued while the previous write+fdatasync runs are written and
 *   synced together, so a batch of addSpans (one record) or many concurrent
 *   callers share one fsync. A promise resolves only after its record is
 *   fdatasync'd: acknowledged means it survives kill -9 and power loss.
 * - "always": each record is written and fdatasync'd on its own, in order.
 * - "none": resolves once the record is written to the OS; survives kill -9
 *   of the process, not a power cut or kernel crash.
 * In every mode the in-memory state changes before the record is durable (so
 * ids and sequence numbers are assigned atomically, before any await); a
 * caller that did not see its promise resolve must not assume the change
 * survived a crash.
 *
 * Records are CRC'd lines, spans one per line after their record's header
 * (format in wal.ts). On reopen a torn or corrupt tail (the first record
 * cut short or whose CRC does not check) and everything after it in that
 * segment is cut off; earlier good records are always kept.
 *
 * Checkpoints fold the current WAL segment N into `spans/part-N.parquet`
 * (zstd; DuckDB reads the sealed segment's span lines as NDJSON and writes
 * the part on its own thread, so ingest goes on meanwhile) and `snapshot-N.json` (rollouts, attempts, resource versions,
 * workers), then delete segments <= N. They run when `parquetRollSpans`
 * spans (default 100k) or `parquetRollBytes` WAL bytes (default 256 MiB) have
 * accumulated, every `checkpointIntervalMs` (default 30 s) while spans are
 * pending, and on close. Every file is written to a temp name, fsync'd,
 * renamed and its directory fsync'd. Reopening loads the newest snapshot,
 * the Parquet parts and replays the WAL segments after the snapshot.
 *
 * One writer per directory (writer.lock holds its pid; a lock left by a dead
 * process is taken over). Readers open with `{ readOnly: true }`, take no
 * lock, see everything fsync'd so far, and follow the writer: every
 * `followIntervalMs` (default 1 s; 0 = off) and on `refresh()` they read the
 * WAL's new records, so queries and waitForRollouts see a live run.
 *
 * Memory holds the spans of the current segment and of the newest sealed
 * one, as their JSON lines (span-list.ts); older spans live only in their
 * Parquet parts, and querySpans reads them with DuckDB (only for attempts
 * that have such spans) and merges them in order. So memory stays bounded
 * on a run of any length, reopening a directory of millions of spans is
 * quick, and freshly finished rollouts are served from memory. Span times
 * are kept to the microsecond, the Parquet unit.
 */

import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { parseOrThrow } from "../types/validate.js";
import { ValidationError } from "../types/errors.js";
import type { Span } from "../types/span.js";
import { BaseStore, type ParsedSpanQuery } from "./base-store.js";
import { ColdSpans, mergeSpans, type ColdSpanQuery } from "./cold-spans.js";
import { StoreOptionsSchema, type StoreOptions } from "./store-options.js";
import type { StoreStatistics } from "./lightning-store.js";
import { fsyncDir, writeFileAtomic } from "./fs-durable.js";
import { acquireWriterLock } from "./lock.js";
import { SpanParquetIO } from "./parquet-io.js";
import { STORE_LAYOUT } from "./parquet-layout.js";
import { listSnapshots, listStoreDir, ListingMoved, partPath, retryOnVanish, snapshotPath, walPath } from "./store-dir.js";
import { blockBytes, indexSpanBlock, type SpanBlock } from "./span-list.js";
import { listQuarantined, screenSpans, writeQuarantine, type SetAsideSpan } from "./quarantine.js";
import {
  decodeRecords,
  encodeRecordParts,
  readWalFile,
  truncateTornTail,
  WalSegmentWriter,
  type FsyncPolicy,
  type WalReadResult,
  type WalRecord,
} from "./wal.js";
import { join } from "node:path";

interface Snapshot {
  format: 1;
  segment: number;
  state: WalRecord;
}

const DEFAULTS = {
  parquetRollSpans: 100_000,
  parquetRollBytes: 256 * 1024 * 1024,
  checkpointIntervalMs: 30_000,
  followIntervalMs: 1000,
};

export class DurableStore extends BaseStore {
  readonly kind = "durable" as const;
  private readonly policy: FsyncPolicy;
  private readonly rollSpans: number;
  private readonly rollBytes: number;
  private readonly parquet = new SpanParquetIO();
  private releaseLock: (() => void) | null = null;
  private writer: WalSegmentWriter | null = null;
  private segment = 0;
  /** Spans logged in the current segment, bound for its Parquet part. */
  private pendingSpans = 0;
  /** Segments switched away from whose Parquet part is not written yet (a failed checkpoint leaves them for the next). */
  private sealing: { segment: number; spans: number }[] = [];
  private checkpointChain: Promise<void> = Promise.resolve();
  private checkpointQueued = false;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private parquetFiles = 0;
  /** Segments read at load whose spans sit inside record payloads (the first WAL format). */
  private readonly inlineSpanSegments = new Set<number>();
  /** Spans queried from Parquet parts, not held in memory (all of them, at load). */
  private readonly cold = new ColdSpans();
  /** Segments sealed into parts whose spans memory still holds, oldest first. */
  private hotParts: number[] = [];
  /** Readers: the snapshot loaded, and how far each WAL segment after it has been read. */
  private loadedSnapshot = 0;
  private readonly walTails = new Map<number, number>();
  private refreshing: Promise<void> | null = null;
  private followTimer: NodeJS.Timeout | null = null;
  /** Readers: the last failure of a background refresh, if any (the next tick retries). */
  lastFollowError: unknown = null;
  /** The last background checkpoint failure, if any; the next checkpoint retries. */
  lastCheckpointError: unknown = null;
  /** Per segment, the spans its quarantine/ file holds (set aside by a writer; see parquet-layout.ts). */
  private quarantineFiles = new Map<number, number>();
  /** Spans set aside from WAL segments not folded yet, per segment (the writer quarantines them when it folds). */
  private setAside = new Map<number, SetAsideSpan[]>();

  private constructor(
    readonly dir: string,
    opts: ReturnType<typeof StoreOptionsSchema.parse>,
  ) {
    super(opts);
    this.policy = opts.fsync ?? "batch";
    this.rollSpans = opts.parquetRollSpans ?? DEFAULTS.parquetRollSpans;
    this.rollBytes = opts.parquetRollBytes ?? DEFAULTS.parquetRollBytes;
  }

  /** Opens (creating when missing) the store in `dir`. */
  static async open(dir: string, options: StoreOptions = {}): Promise<DurableStore> {
    const opts = parseOrThrow(StoreOptionsSchema, options, "openStore");
    if (typeof dir !== "string" || dir.length === 0) throw new ValidationError("openStore", ["dir: expected a directory path"]);
    const s = new DurableStore(dir, opts);
    if (s.readOnly) {
      if (!existsSync(dir)) throw new TypeError(`openStore: ${dir} does not exist (a read-only store cannot create it)`);
      await s.load();
      s.startFollowing(opts.followIntervalMs ?? DEFAULTS.followIntervalMs);
      return s;
    }
    mkdirSync(join(dir, STORE_LAYOUT.walDir), { recursive: true });
    mkdirSync(join(dir, STORE_LAYOUT.spansDir), { recursive: true });
    s.releaseLock = acquireWriterLock(dir);
    try {
      await s.recover();
    } catch (e) {
      s.releaseLock();
      s.parquet.close();
      throw e;
    }
    s.startDeadlineTimer(opts.deadlineCheckIntervalMs ?? 1000);
    const every = opts.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs;
    if (every > 0) {
      s.checkpointTimer = setInterval(() => {
        if (s.pendingSpans) s.scheduleCheckpoint();
      }, every);
      s.checkpointTimer.unref();
    }
    return s;
  }

  // -------------------------------------------------------------------------
  // loading

  /** Newest readable snapshot (a torn one from a crash is skipped). */
  private readSnapshot(numbers: number[]): Snapshot | null {
    for (let i = numbers.length - 1; i >= 0; i--) {
      try {
        const snap = JSON.parse(readFileSync(snapshotPath(this.dir, numbers[i]), "utf8")) as Snapshot;
        if (snap.format === 1 && snap.segment === numbers[i]) return snap;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw e;
      }
    }
    return null;
  }

  /**
   * Rebuilds state: snapshot, then every later segment's records, then spans
   * segment by segment from its Parquet part when it has one, else the WAL.
   * Returns the WAL spans of segments that have no part, per segment.
   */
  private async load(): Promise<Map<number, Span[]>> {
    // A reader may list a part that is gone by the time DuckDB opens it (a writer of an earlier version
    // replaced parts in recovery): list again, once.
    for (let tries = 1; ; tries++) {
      try {
        return await this.loadOnce();
      } catch (e) {
        if (tries >= 2 || !isVanishedFile(e)) throw e;
      }
    }
  }

  private async loadOnce(): Promise<Map<number, Span[]>> {
    const { snap, walLogs, parts } = retryOnVanish(() => {
      const newest = () => listSnapshots(this.dir).at(-1) ?? 0;
      const before = newest();
      const listing = listStoreDir(this.dir);
      const snap = this.readSnapshot(listing.snapshots);
      const base = snap?.segment ?? 0;
      const walLogs = new Map<number, WalReadResult>();
      this.inlineSpanSegments.clear();
      this.loadedSnapshot = snap?.segment ?? 0;
      this.walTails.clear();
      for (const n of listing.segments) {
        if (n <= base) continue;
        const r = readWalFile(walPath(this.dir, n));
        walLogs.set(n, r);
        this.walTails.set(n, r.validBytes);
        if (r.inlineSpans) this.inlineSpanSegments.add(n);
      }
      // A checkpoint that wrote part N and snapshot N and deleted segment N while segments, parts and snapshots
      // were listed would hide segment N's spans. The same newest snapshot before and after: no checkpoint
      // finished meanwhile, so the segments and parts after it fit together.
      if (before !== (listing.snapshots.at(-1) ?? 0) || before !== newest()) throw new ListingMoved();
      return { snap, walLogs, parts: listing.parts };
    });
    // Everything that awaits happens before the state is reset: a reader's queries never see it half built.
    const coldParts = [...parts].sort((a, b) => a - b).map((n) => partPath(this.dir, n));
    const coldSummary = await this.parquet.summarizeParts(coldParts);
    this.resetState();
    this.wideIds = { checked: 0, found: false };
    this.setAside.clear();
    this.quarantineFiles = listQuarantined(this.dir);
    if (snap) this.applyRecord(snap.state);
    const unsealed = new Map<number, { spans: Span[]; blocks: (SpanBlock | undefined)[]; from: Span[][] }>();
    for (const [n, log] of walLogs) {
      const seg = { spans: [] as Span[], blocks: [] as (SpanBlock | undefined)[], from: [] as Span[][] };
      const sealed = parts.has(n);
      log.records.forEach((rec, i) => {
        this.applyRecord({ ...rec, spans: undefined });
        // A segment with a part: its spans are read from there.
        if (!rec.spans?.length || sealed) return;
        let spans = rec.spans;
        let block = log.blocks[i];
        const screened = screenSpans(spans, block);
        if (screened) {
          spans = screened.kept;
          block = null;
          this.setAside.set(n, [...(this.setAside.get(n) ?? []), ...screened.setAside]);
        }
        for (const s of spans) seg.spans.push(s);
        seg.from.push(spans);
        // The lines as they lie in the file are the in-memory copy; inline spans (first format) are encoded afresh.
        seg.blocks.push(block ? indexSpanBlock(block) : undefined);
      });
      if (!sealed) unsealed.set(n, seg);
    }
    // Spans of parts stay on disk: queries read them through DuckDB (cold), memory holds the rest.
    this.cold.reset(coldParts);
    this.hotParts = [];
    this.parquetFiles = coldParts.length;
    for (const [n, seg] of unsealed) {
      this.spans.segment = n;
      seg.from.forEach((spans, i) => this.applySpans(spans, seg.blocks[i]));
    }
    for (const a of coldSummary) {
      // Later sequence ids of the attempt follow its spans in parts.
      const e = this.attempts.get(a.attemptId);
      if (e && a.maxSeq + 1 > e.nextSeq) e.nextSeq = a.maxSeq + 1;
      this.cold.note(a.attemptId, a.count, a.path);
    }
    this.rebuildIndexes();
    return new Map([...unsealed].map(([n, seg]) => [n, seg.spans]));
  }

  /**
   * Writer open: cut torn tails, drop Parquet parts a crash left without
   * their snapshot, load, seal the old segments into parts and a snapshot,
   * then start a fresh segment.
   */
  private async recover(): Promise<void> {
    const listing = listStoreDir(this.dir);
    const snap = this.readSnapshot(listing.snapshots);
    const base = snap?.segment ?? 0;
    // A part newer than the snapshot was written (temp, fsync, rename) just before a crash: it is complete
    // and holds exactly its segment's spans, so it stays (a reader may have listed it). Only temp files go.
    this.removeTempFiles();
    for (const n of listing.segments) if (n > base) truncateTornTail(walPath(this.dir, n));
    const unsealed = await this.load();
    const last = Math.max(base, ...listing.segments, ...listing.snapshots, ...listing.parts, 0);
    if (listing.segments.some((n) => n > base)) {
      for (const [n, spans] of unsealed) await this.foldSegment(n, spans);
      await this.writeSnapshot(last, JSON.stringify(this.snapshotState(last)));
      this.deleteUpTo(last);
      this.parquetFiles = listStoreDir(this.dir).parts.size;
      for (const n of unsealed.keys()) this.hotParts.push(n);
      this.coolDown();
    }
    this.segment = last + 1;
    this.spans.segment = this.segment;
    this.writer = this.newWriter(this.segment, Promise.resolve());
  }

  /** Temp files a crash left (a part, snapshot or quarantine file cut short before its rename); no reader opens them. */
  private removeTempFiles(): void {
    for (const sub of [".", STORE_LAYOUT.spansDir, STORE_LAYOUT.quarantineDir]) {
      const d = join(this.dir, sub);
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d)) if (STORE_TEMP.test(f)) rmSync(join(d, f), { force: true });
    }
  }

  /**
   * Writes segment n's part. DuckDB reads the span lines straight from the
   * segment; segments of the first record format (spans inside payloads),
   * segments holding spans that are set aside, and any segment DuckDB fails
   * to read go through the appender with the spans JS reads, after the
   * set-aside ones are written to quarantine/. `known` is the kept spans
   * when load() has them.
   */
  private async foldSegment(n: number, known: Span[] | null): Promise<void> {
    const wal = walPath(this.dir, n);
    const part = partPath(this.dir, n);
    let kept = known;
    if (!this.inlineSpanSegments.has(n) && !this.setAside.has(n)) {
      try {
        return await this.parquet.writePartFromWal(wal, part);
      } catch (e) {
        if (!existsSync(wal)) throw e;
        console.warn(
          `arclight store ${this.dir}: DuckDB could not fold WAL segment ${n} (${(e as Error).message.split("\n")[0]}); folding it from JS`,
        );
        kept = null;
      }
    }
    if (kept === null) {
      kept = [];
      const log = readWalFile(wal);
      log.records.forEach((rec, i) => {
        if (!rec.spans?.length) return;
        const screened = screenSpans(rec.spans, log.blocks[i]);
        if (screened) this.setAside.set(n, [...(this.setAside.get(n) ?? []), ...screened.setAside]);
        for (const s of screened?.kept ?? rec.spans) kept!.push(s);
      });
    }
    const bad = this.setAside.get(n);
    if (bad?.length) {
      // Rewritten whole when a crash came between this file and the segment's snapshot: the same spans again.
      const path = await writeQuarantine(this.dir, n, bad);
      this.quarantineFiles.set(n, bad.length);
      console.warn(
        `arclight store ${this.dir}: set aside ${bad.length} span(s) of WAL segment ${n} that cannot be stored exactly (${bad[0].problem}); they are in ${path}`,
      );
    }
    this.setAside.delete(n);
    await this.parquet.writePart(part, kept);
  }

  /** Spans acknowledged once but set aside (quarantine/ and not yet folded segments); queries never return them. */
  get quarantinedSpans(): number {
    let n = 0;
    for (const k of this.quarantineFiles.values()) n += k;
    // A segment whose file is written already (a crash before its snapshot) is counted once.
    for (const [seg, xs] of this.setAside) if (!this.quarantineFiles.has(seg)) n += xs.length;
    return n;
  }

  private snapshotState(segment: number): Snapshot {
    return { format: 1, segment, state: this.snapshotRecord() };
  }

  private newWriter(n: number, after: Promise<void>): WalSegmentWriter {
    const path = walPath(this.dir, n);
    return new WalSegmentWriter(path, this.policy, after, () => fsyncDir(path));
  }

  private async writeSnapshot(n: number, json: string): Promise<void> {
    await writeFileAtomic(snapshotPath(this.dir, n), json);
  }

  /** Deletes WAL segments and older snapshots covered by snapshot `n`. */
  private deleteUpTo(n: number): void {
    const { segments, snapshots } = listStoreDir(this.dir);
    for (const s of segments) if (s <= n) rmSync(walPath(this.dir, s), { force: true });
    for (const s of snapshots) if (s < n) rmSync(snapshotPath(this.dir, s), { force: true });
  }

  // -------------------------------------------------------------------------
  // writing

  protected persist(rec: WalRecord, spans: SpanBlock | null): Promise<void> {
    // Encode now: later mutations replace the objects this record names.
    const p = this.writer!.append(encodeRecordParts(rec, spans ? blockBytes(spans) : null));
    if (spans) this.pendingSpans += spans.starts.length;
    if (this.pendingSpans >= this.rollSpans || this.writer!.bytes >= this.rollBytes) this.scheduleCheckpoint();
    return p;
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointQueued || this.closed) return;
    this.checkpointQueued = true;
    this.checkpointChain = this.checkpointChain.then(() => {
      this.checkpointQueued = false;
      return this.checkpoint().catch((e) => {
        this.lastCheckpointError = e;
      });
    });
  }

  /**
   * Seals the current segment N. The state, the spans and the segment switch
   * are taken in one synchronous step, so snapshot N is exactly the state
   * after segment N's last record.
   */
  private async checkpoint(): Promise<void> {
    const n = this.segment;
    const old = this.writer!;
    const snapshotJson = JSON.stringify(this.snapshotState(n));
    this.sealing.push({ segment: n, spans: this.pendingSpans });
    this.pendingSpans = 0;
    this.segment = n + 1;
    this.spans.segment = this.segment;
    this.writer = this.newWriter(n + 1, old.drain());
    await old.close();
    while (this.sealing.length) {
      const { segment, spans } = this.sealing[0];
      // A sealed segment file holds exactly its part's spans; DuckDB reads them from there.
      // A segment without spans needs no part: readers find none in its log either.
      if (spans > 0 && !existsSync(partPath(this.dir, segment))) {
        await this.foldSegment(segment, null);
        this.parquetFiles++;
      }
      if (spans > 0) this.hotParts.push(segment);
      this.sealing.shift();
    }
    await this.writeSnapshot(n, snapshotJson);
    this.deleteUpTo(n);
    this.coolDown();
    this.lastCheckpointError = null;
  }

  /**
   * Lets memory go of sealed segments' spans, all but the newest one's:
   * memory stays bounded by about two segments of spans however long a run
   * is, and rollouts that just finished (what trainers query) stay hot.
   */
  private coolDown(): void {
    while (this.hotParts.length > 1) {
      const n = this.hotParts.shift()!;
      const path = partPath(this.dir, n);
      this.cold.addPart(path);
      for (const { entry, count } of this.spans.evictUpTo(this.attempts.values(), n)) this.cold.note(entry.attempt.attemptId, count, path);
    }
  }

  protected override resetState(): void {
    super.resetState();
    this.cold.reset([]);
  }

  override async querySpans(query?: Parameters<BaseStore["querySpans"]>[0]): Promise<Span[]> {
    try {
      return await super.querySpans(query);
    } catch (e) {
      // A reader that listed a part gone since (only a writer of an earlier version replaced parts): reload, ask once more.
      if (!this.readOnly || !isVanishedFile(e)) throw e;
      await this.refreshWith(true);
      return super.querySpans(query);
    }
  }

  /** Whether a rollout id holds a character where JS and DuckDB order strings differently (checked once per new rollout). */
  private wideIds = { checked: 0, found: false };

  private needsUtf16Order(): boolean {
    const w = this.wideIds;
    if (w.found || w.checked === this.rollouts.size) return w.found;
    let i = 0;
    // Rollouts are only ever added, in insertion order: look at the new ones.
    for (const id of this.rollouts.keys()) if (i++ >= w.checked && WIDE_CHAR.test(id)) w.found = true;
    w.checked = this.rollouts.size;
    return w.found;
  }

  /** Memory's spans, merged in order with those of the query's attempts that live in Parquet parts. */
  protected override async findSpans(q: ParsedSpanQuery): Promise<Span[]> {
    const hot = await super.findSpans(q);
    if (!this.cold.count) return hot;
    // Unscoped queries name every attempt with cold spans: DuckDB filters cheaper without the list.
    let attemptIds: string[] | null = null;
    if (q.rolloutId !== undefined || q.attemptId !== undefined) {
      attemptIds = [];
      for (const attempts of this.queryScope(q))
        for (const ae of attempts) if (this.cold.has(ae.attempt.attemptId)) attemptIds.push(ae.attempt.attemptId);
      if (!attemptIds.length) return hot;
    } else if (!this.cold.hasAny((id) => this.attempts.has(id))) return hot;
    const cold = await this.queryColdSpans({ ...q, attemptIds });
    return cold.length ? mergeSpans(hot, cold, q.limit ?? Infinity) : hot;
  }

  private queryColdSpans(q: ColdSpanQuery): Promise<Span[]> {
    // Only the parts that hold these attempts: DuckDB pays ~4 ms per file opened, whatever it finds there.
    const files = q.attemptIds === null ? this.cold.allParts() : this.cold.partsOf(q.attemptIds);
    return this.parquet.queryParts(files, q, this.needsUtf16Order());
  }

  /** Folds everything logged so far into Parquet and a snapshot now. */
  async flush(): Promise<void> {
    this.assertWritable("flush");
    this.scheduleCheckpoint();
    await this.checkpointChain;
    if (this.lastCheckpointError) throw this.lastCheckpointError;
  }

  /**
   * Read-only stores: catch up with everything the writer has made durable.
   * Between checkpoints that is an incremental read of the WAL segments'
   * new bytes (a torn last record is left for the next call); after a
   * checkpoint (a newer snapshot) everything is reloaded, with the sealed
   * spans read from Parquet.
   */
  async refresh(): Promise<void> {
    return this.refreshWith(false);
  }

  private async refreshWith(reload: boolean): Promise<void> {
    this.assertOpen();
    if (!this.readOnly) return;
    // A reload asked for while a refresh runs waits for it, then reloads.
    if (reload) await this.refreshing?.catch(() => {});
    const refreshing = (this.refreshing ??= this.catchUp(reload).finally(() => (this.refreshing = null)));
    await refreshing;
  }

  /** `reload`: list and load the directory afresh (a file this reader listed is gone). */
  private async catchUp(reload = false): Promise<void> {
    const listing = listStoreDir(this.dir);
    const newest = listing.snapshots.at(-1) ?? 0;
    if (reload || newest !== this.loadedSnapshot || !this.tailFromWal(listing.segments)) await this.load();
    this.rebuildIndexes();
    this.notifyWaiters();
  }

  /** Applies the records appended to WAL segments since they were last read; false when a segment vanished (a checkpoint). */
  private tailFromWal(segments: number[]): boolean {
    for (const n of segments) {
      if (n <= this.loadedSnapshot) continue;
      const path = walPath(this.dir, n);
      const from = this.walTails.get(n) ?? 0;
      let fresh: Buffer;
      try {
        fresh = readFrom(path, from);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw e;
      }
      if (!fresh.length) continue;
      const log = decodeRecords(fresh);
      this.spans.segment = n;
      log.records.forEach((rec, i) => {
        this.applyRecord({ ...rec, spans: undefined });
        if (!rec.spans?.length) return;
        const screened = screenSpans(rec.spans, log.blocks[i]);
        if (screened) {
          this.setAside.set(n, [...(this.setAside.get(n) ?? []), ...screened.setAside]);
          this.applySpans(screened.kept);
        } else this.applySpans(rec.spans, log.blocks[i] ? indexSpanBlock(log.blocks[i]!) : undefined);
      });
      this.walTails.set(n, from + log.validBytes);
    }
    return true;
  }

  private startFollowing(everyMs: number): void {
    if (everyMs <= 0) return;
    this.followTimer = setInterval(() => {
      this.refresh().catch((e) => {
        // A reader racing a checkpoint can see a half-renamed directory; the next tick retries.
        this.lastFollowError = e;
      });
    }, everyMs);
    this.followTimer.unref();
  }

  override async statistics(): Promise<StoreStatistics> {
    const s = await super.statistics();
    return {
      ...s,
      spans: s.spans + this.cold.count,
      walBytes: this.writer?.bytes ?? 0,
      parquetFiles: this.parquetFiles,
      spansInMemory: s.spans,
      quarantinedSpans: this.quarantinedSpans,
    };
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    if (this.followTimer) clearInterval(this.followTimer);
    await this.refreshing?.catch(() => {});
    // Closed first, so no call slips in between the last checkpoint and the lock release.
    await super.close();
    if (!this.readOnly && this.writer) {
      // Seal the last segment so the next open has nothing to replay (nothing to seal if nothing was logged).
      await this.checkpointChain;
      this.checkpointQueued = false;
      try {
        if (this.writer.bytes > 0 || this.sealing.length) await this.checkpoint();
      } finally {
        await this.writer.close();
        // The checkpoint opened segment N+1 lazily; it holds no records, so it need not exist.
        rmSync(this.writer.path, { force: true });
      }
    }
    this.parquet.close();
    this.releaseLock?.();
    this.releaseLock = null;
    this.releaseMemory();
  }
}

/** Characters at or above U+D800: where UTF-16 code unit order (JS) and code point order (DuckDB) can disagree. */
const WIDE_CHAR = /[\uD800-\uFFFF]/;

/** Temp names of the store's own files (fs-durable.ts, parquet-io.ts); nothing else in the directory is touched. */
const STORE_TEMP = /^(snapshot-\d+\.json|part-\d+\.parquet|wal-\d+\.jsonl)\.tmp$/;

/** DuckDB could not open a file it was given (it vanished after it was listed). */
function isVanishedFile(e: unknown): boolean {
  const m = e instanceof Error ? e.message : "";
  return /Cannot open file|No files found that match|No such file or directory/.test(m);
}

/** The bytes of a file from `offset` to its current end. */
function readFrom(path: string, offset: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

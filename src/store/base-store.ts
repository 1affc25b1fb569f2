// The LightningStore's logic, shared by the in-memory and the durable store.
// Every mutation validates first, then changes state synchronously (ids and
// sequence numbers are assigned before any await, so concurrent callers in
// one process can never interleave), then hands the changed records to
// `persist`, which the durable store turns into a WAL append.
//
// Queue order: FIFO by the time a rollout entered the queue. A requeued
// rollout goes to the back, behind rollouts enqueued before its attempt
// failed, so one flaky task cannot starve the rest.
//
// Only the latest attempt of a rollout drives the rollout's status; an older
// attempt that reports late changes only itself.

import { randomBytes } from "node:crypto";
import { z } from "zod";
import { idSchema } from "../types/validate.js";
import {
  AttemptUpdateSchema,
  checkAttemptTransition,
  checkRolloutTransition,
  DEFAULT_ROLLOUT_CONFIG,
  EnqueueRolloutSchema,
  isAttemptTerminal,
  isRolloutTerminal,
  NamedResourcesSchema,
  NotFoundError,
  parseOrThrow,
  ReadOnlyStoreError,
  RolloutConfigSchema,
  RolloutStatusSchema,
  RolloutModeSchema,
  RolloutUpdateSchema,
  SpanQuerySchema,
  StoreClosedError,
  ValidationError,
  type Attempt,
  type AttemptedRollout,
  type AttemptStatus,
  type AttemptUpdate,
  type EnqueueRolloutRequest,
  type NamedResources,
  type ResourcesUpdate,
  type Rollout,
  type RolloutConfig,
  type RolloutConfigInput,
  type RolloutStatus,
  type RolloutUpdate,
  type Span,
  type SpanQuery,
  type Worker,
  type WorkerUpdate,
} from "../types/index.js";
import type { DequeueOptions, LightningStore, RolloutQuery, StoreStatistics, WaitOptions } from "./lightning-store.js";
import { otelToSpanDraft } from "./otel-span.js";
import { normalizeSpan, type SpanDraft } from "./span-input.js";
import { encodeSpanBlock, NameInterner, SpanArena, SpanList, type SpanBlock } from "./span-list.js";
import type { LoggedRollout, WalRecord } from "./wal.js";

// ---------------------------------------------------------------------------
// options

export const StoreOptionsSchema = z
  .object({
    readOnly: z.boolean().optional(),
    /** Store-wide retry policy; rollouts override field by field. */
    defaults: RolloutConfigSchema.optional(),
    /** Durable stores: when an append is acknowledged (see durable-store.ts). */
    fsync: z.enum(["always", "batch", "none"]).optional(),
    /** How often the deadline timer runs checkDeadlines; 0 turns the timer off. */
    deadlineCheckIntervalMs: z.number().int().min(0).optional(),
    /** Durable stores: spans logged before a checkpoint writes them to a Parquet part. */
    parquetRollSpans: z.number().int().positive().optional(),
    /** Durable stores: WAL bytes before a checkpoint. */
    parquetRollBytes: z.number().int().positive().optional(),
    /** Durable stores: a checkpoint runs at least this often while spans are pending; 0 = only by size and on close. */
    checkpointIntervalMs: z.number().int().min(0).optional(),
    /**
     * Read-only durable stores: how often to pick up what the writer logged
     * since (an incremental read of the WAL tail); 0 = only on refresh().
     */
    followIntervalMs: z.number().int().min(0).optional(),
    /** Epoch-millisecond clock; tests pass a fake one. */
    clock: z.custom<() => number>((v) => typeof v === "function", "expected a function returning epoch ms").optional(),
  })
  .strict();
export type StoreOptions = z.input<typeof StoreOptionsSchema>;

export function resolveConfig(base: RolloutConfig, over: RolloutConfigInput | undefined): RolloutConfig {
  return {
    timeoutSeconds: over?.timeoutSeconds !== undefined ? over.timeoutSeconds : base.timeoutSeconds,
    unresponsiveSeconds: over?.unresponsiveSeconds !== undefined ? over.unresponsiveSeconds : base.unresponsiveSeconds,
    maxAttempts: over?.maxAttempts ?? base.maxAttempts,
    retryConditions: [...(over?.retryConditions ?? base.retryConditions)],
  };
}

// ---------------------------------------------------------------------------
// internal state

interface AttemptEntry {
  attempt: Attempt;
  /** Spans held in memory. */
  spans: SpanList;
  /** Spans of this attempt that live only in Parquet parts (queried through DuckDB). */
  coldSpans: number;
  nextSeq: number;
}

interface RolloutEntry {
  rollout: Rollout;
  attempts: AttemptEntry[];
  /** Position in the dequeue order while queuing/requeuing, else null. */
  queuedAt: number | null;
}

const ACTIVE_ATTEMPT: readonly AttemptStatus[] = ["preparing", "running", "unresponsive"];

const RolloutIdSchema = idSchema("rolloutId");
const AttemptIdSchema = idSchema("attemptId");
const ResourcesIdSchema = idSchema("resourcesId");
const WorkerIdSchema = idSchema("workerId");
const DequeueOptionsSchema = z.object({ workerId: WorkerIdSchema.optional() }).strict().optional();
const LimitSchema = z.number().int().min(1);
const WaitSchema = z.object({ ids: z.array(RolloutIdSchema), opts: z.object({ timeoutMs: z.number().min(0).optional() }).strict().optional() });
const RolloutQuerySchema = z
  .object({
    status: z.union([RolloutStatusSchema, z.array(RolloutStatusSchema)]).optional(),
    ids: z.array(z.string()).optional(),
    mode: RolloutModeSchema.optional(),
  })
  .strict()
  .optional();
const WorkerUpdateSchema = z
  .object({
    status: z.enum(["idle", "busy", "unknown"]).optional(),
    heartbeatStats: z.record(z.string(), z.unknown()).nullable().optional(),
    currentRolloutId: z.string().nullable().optional(),
    currentAttemptId: z.string().nullable().optional(),
  })
  .strict();
const NowSchema = z.number().optional();

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString("hex")}`;
}

function copy<T>(v: T): T {
  return structuredClone(v);
}

/** Collects what one mutation changed, deduplicated, for persistence. */
class ChangeSet {
  rollouts = new Map<string, RolloutEntry>();
  attempts = new Map<string, Attempt>();
  workers = new Map<string, Worker>();
  /** The spans this mutation added, encoded once for memory and the WAL alike. */
  spanBlock: SpanBlock | null = null;
  resources: ResourcesUpdate[] = [];
  latestResourcesId: string | undefined;

  toRecord(): WalRecord {
    const rec: WalRecord = {};
    if (this.rollouts.size) rec.rollouts = [...this.rollouts.values()].map((e): LoggedRollout => ({ rollout: e.rollout, queuedAt: e.queuedAt }));
    if (this.attempts.size) rec.attempts = [...this.attempts.values()];
    if (this.resources.length) rec.resources = this.resources;
    if (this.workers.size) rec.workers = [...this.workers.values()];
    if (this.latestResourcesId !== undefined) rec.latestResourcesId = this.latestResourcesId;
    return rec;
  }

  get empty(): boolean {
    return !this.rollouts.size && !this.attempts.size && !this.workers.size && !this.spanBlock && !this.resources.length;
  }
}

// ---------------------------------------------------------------------------

export abstract class BaseStore implements LightningStore {
  abstract readonly kind: "memory" | "durable";
  readonly readOnly: boolean;
  readonly defaults: RolloutConfig;
  protected readonly clock: () => number;

  protected rollouts = new Map<string, RolloutEntry>();
  protected attempts = new Map<string, AttemptEntry>();
  protected workers = new Map<string, Worker>();
  /** Every version of every resources id, oldest first. */
  protected resourceVersions: ResourcesUpdate[] = [];
  protected resourcesLatest = new Map<string, ResourcesUpdate>();
  protected latestResourcesId: string | null = null;
  protected spanCount = 0;
  /** Of spanCount, how many live only in Parquet parts. */
  protected coldSpanCount = 0;
  /** The WAL segment new spans are logged in (memory stores stay at 0). */
  protected spanSegment = 0;
  private readonly spanNames = new NameInterner();
  private spanArena = new SpanArena();

  /** Rollout ids in dequeue order; stale entries (moved on, or re-queued later) are skipped. */
  private queue: { id: string; at: number }[] = [];
  private queueHead = 0;
  private queueCounter = 0;
  /** Attempts that a deadline may still catch. */
  private activeAttempts = new Set<AttemptEntry>();
  private sortedRolloutIds: string[] | null = null;
  private waiters = new Set<() => void>();
  private deadlineTimer: NodeJS.Timeout | null = null;
  protected closed = false;

  constructor(opts: z.output<typeof StoreOptionsSchema>) {
    this.readOnly = opts.readOnly ?? false;
    this.defaults = resolveConfig(DEFAULT_ROLLOUT_CONFIG, opts.defaults);
    this.clock = opts.clock ?? Date.now;
  }

  /** Makes the changes durable; resolves when acknowledged. `spans` holds the spans the record adds, as JSON lines. */
  protected abstract persist(rec: WalRecord, spans: SpanBlock | null): Promise<void> | void;

  protected startDeadlineTimer(intervalMs: number): void {
    if (intervalMs <= 0 || this.readOnly) return;
    this.deadlineTimer = setInterval(() => {
      this.checkDeadlines().catch(() => {
        // A failed WAL append already rejected the callers who care; the timer keeps going.
      });
    }, intervalMs);
    this.deadlineTimer.unref();
  }

  protected stopDeadlineTimer(): void {
    if (this.deadlineTimer) clearInterval(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  protected assertOpen(): void {
    if (this.closed) throw new StoreClosedError();
  }

  protected assertWritable(op: string): void {
    this.assertOpen();
    if (this.readOnly) throw new ReadOnlyStoreError(op);
  }

  private async commit(ch: ChangeSet): Promise<void> {
    if (ch.empty) return;
    await this.persist(ch.toRecord(), ch.spanBlock);
  }

  // -------------------------------------------------------------------------
  // replay (durable stores rebuild state from snapshots and WAL records)

  protected applyRecord(rec: WalRecord): void {
    for (const r of rec.rollouts ?? []) {
      const e = this.rollouts.get(r.rollout.rolloutId);
      if (e) e.rollout = r.rollout;
      else {
        this.rollouts.set(r.rollout.rolloutId, { rollout: r.rollout, attempts: [], queuedAt: null });
        this.sortedRolloutIds = null;
      }
      const entry = this.rollouts.get(r.rollout.rolloutId)!;
      entry.queuedAt = r.queuedAt;
      if (r.queuedAt !== null) this.queueCounter = Math.max(this.queueCounter, r.queuedAt);
    }
    for (const a of rec.attempts ?? []) {
      const e = this.attempts.get(a.attemptId);
      if (e) {
        e.attempt = a;
      } else {
        const re = this.rollouts.get(a.rolloutId);
        if (!re) continue;
        const entry: AttemptEntry = { attempt: a, spans: new SpanList(), coldSpans: 0, nextSeq: 0 };
        this.attempts.set(a.attemptId, entry);
        re.attempts.push(entry);
        re.attempts.sort((x, y) => x.attempt.sequenceId - y.attempt.sequenceId);
      }
    }
    if (rec.spans) this.applySpans(rec.spans);
    for (const r of rec.resources ?? []) {
      this.resourceVersions.push(r);
      this.resourcesLatest.set(r.resourcesId, r);
    }
    if (rec.latestResourcesId !== undefined) this.latestResourcesId = rec.latestResourcesId;
    for (const w of rec.workers ?? []) this.workers.set(w.workerId, w);
  }

  /**
   * Spans restored from the WAL; those of unknown attempts are kept out of
   * queries. `block` is their JSON lines when the log had them as such.
   */
  protected applySpans(spans: Span[], block: SpanBlock = encodeSpanBlock(spans)): void {
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      const e = this.attempts.get(s.attemptId);
      if (!e || e.attempt.rolloutId !== s.rolloutId) continue;
      e.spans.insert(s.sequenceId, this.spanNames.intern(s.name), block, i, this.spanSegment);
      if (s.sequenceId >= e.nextSeq) e.nextSeq = s.sequenceId + 1;
      this.spanCount++;
    }
  }

  /** Cold spans of an attempt exist up to `maxSeq`: later ids must follow them. */
  protected noteColdSpans(attemptId: string, maxSeq: number, count: number): void {
    const e = this.attempts.get(attemptId);
    if (e && maxSeq + 1 > e.nextSeq) e.nextSeq = maxSeq + 1;
    if (e) e.coldSpans += count;
    this.coldSpanCount += count;
    this.spanCount += count;
  }

  /**
   * Spans logged in segments <= `segment` now live only in Parquet: memory
   * lets go of them (and the arena reuses their chunks), queries read them
   * through queryColdSpans. Returns the attempts that had spans there.
   */
  protected evictSpansUpTo(segment: number): string[] {
    const evicted: string[] = [];
    for (const e of this.attempts.values()) {
      const n = e.spans.evictUpTo(segment);
      if (!n) continue;
      e.coldSpans += n;
      this.coldSpanCount += n;
      evicted.push(e.attempt.attemptId);
    }
    this.spanArena.release(segment);
    return evicted;
  }

  /** Spans held in memory (the rest are in Parquet parts). */
  protected get hotSpanCount(): number {
    return this.spanCount - this.coldSpanCount;
  }

  /** After replay: rebuild the queue and the active-attempt set from the records. */
  protected rebuildIndexes(): void {
    this.queue = [];
    this.queueHead = 0;
    const queued = [...this.rollouts.values()].filter((e) => e.queuedAt !== null && (e.rollout.status === "queuing" || e.rollout.status === "requeuing"));
    queued.sort((a, b) => a.queuedAt! - b.queuedAt!);
    for (const e of queued) this.queue.push({ id: e.rollout.rolloutId, at: e.queuedAt! });
    this.activeAttempts.clear();
    for (const e of this.attempts.values()) if (ACTIVE_ATTEMPT.includes(e.attempt.status)) this.activeAttempts.add(e);
    this.sortedRolloutIds = null;
  }

  protected resetState(): void {
    this.rollouts.clear();
    this.attempts.clear();
    this.workers.clear();
    this.resourceVersions = [];
    this.resourcesLatest.clear();
    this.latestResourcesId = null;
    this.spanCount = 0;
    this.coldSpanCount = 0;
    this.spanNames.clear();
    this.spanArena = new SpanArena();
    this.queue = [];
    this.queueHead = 0;
    this.activeAttempts.clear();
    this.sortedRolloutIds = null;
  }

  /** Full state as records, for a durable checkpoint (spans excluded: they go to Parquet). */
  protected snapshotRecord(): WalRecord {
    return {
      rollouts: [...this.rollouts.values()].map((e) => ({ rollout: e.rollout, queuedAt: e.queuedAt })),
      attempts: [...this.attempts.values()].map((e) => e.attempt),
      resources: [...this.resourceVersions],
      workers: [...this.workers.values()],
      ...(this.latestResourcesId !== null ? { latestResourcesId: this.latestResourcesId } : {}),
    };
  }

  // -------------------------------------------------------------------------
  // queue

  private pushQueue(e: RolloutEntry): void {
    e.queuedAt = ++this.queueCounter;
    this.queue.push({ id: e.rollout.rolloutId, at: e.queuedAt });
  }

  private popQueue(): RolloutEntry | null {
    while (this.queueHead < this.queue.length) {
      const q = this.queue[this.queueHead++];
      const e = this.rollouts.get(q.id);
      if (e && e.queuedAt === q.at && (e.rollout.status === "queuing" || e.rollout.status === "requeuing")) return e;
    }
    // Compact once drained so the array does not grow forever.
    this.queue = [];
    this.queueHead = 0;
    return null;
  }

  private makeRollout(req: z.output<typeof EnqueueRolloutSchema>, now: number): RolloutEntry {
    const rollout: Rollout = {
      rolloutId: req.rolloutId ?? newId("ro"),
      input: req.input === undefined ? null : copy(req.input),
      startTime: now,
      endTime: null,
      mode: req.mode ?? null,
      resourcesId: req.resourcesId ?? null,
      status: "queuing",
      config: resolveConfig(this.defaults, req.config),
      metadata: copy(req.metadata ?? {}),
    };
    return { rollout, attempts: [], queuedAt: null };
  }

  private parseEnqueue(reqs: unknown[], where: string): z.output<typeof EnqueueRolloutSchema>[] {
    const parsed = reqs.map((r, i) => parseOrThrow(EnqueueRolloutSchema, r, reqs.length > 1 ? `${where}[${i}]` : where));
    const seen = new Set<string>();
    for (const p of parsed) {
      if (p.rolloutId === undefined) continue;
      if (this.rollouts.has(p.rolloutId) || seen.has(p.rolloutId)) throw new ValidationError(where, [`rolloutId: ${p.rolloutId} already exists`]);
      seen.add(p.rolloutId);
    }
    return parsed;
  }

  private insertRollout(e: RolloutEntry, ch: ChangeSet): void {
    this.rollouts.set(e.rollout.rolloutId, e);
    this.sortedRolloutIds = null;
    ch.rollouts.set(e.rollout.rolloutId, e);
  }

  async enqueueRollout(req: EnqueueRolloutRequest): Promise<Rollout> {
    return (await this.enqueueMany([req], "enqueueRollout"))[0];
  }

  async enqueueManyRollouts(reqs: EnqueueRolloutRequest[]): Promise<Rollout[]> {
    if (!Array.isArray(reqs)) throw new ValidationError("enqueueManyRollouts", ["(value): expected an array of rollout requests"]);
    return this.enqueueMany(reqs, "enqueueManyRollouts");
  }

  private async enqueueMany(reqs: unknown[], where: string): Promise<Rollout[]> {
    this.assertWritable(where);
    const parsed = this.parseEnqueue(reqs, where);
    const now = this.clock();
    const ch = new ChangeSet();
    const out: Rollout[] = [];
    for (const p of parsed) {
      const e = this.makeRollout(p, now);
      this.insertRollout(e, ch);
      this.pushQueue(e);
      out.push(copy(e.rollout));
    }
    await this.commit(ch);
    return out;
  }

  async startRollout(req: EnqueueRolloutRequest, opts?: DequeueOptions): Promise<AttemptedRollout> {
    this.assertWritable("startRollout");
    const [p] = this.parseEnqueue([req], "startRollout");
    const o = parseOrThrow(DequeueOptionsSchema, opts, "startRollout");
    const now = this.clock();
    const ch = new ChangeSet();
    const e = this.makeRollout(p, now);
    this.insertRollout(e, ch);
    const out = this.beginAttempt(e, o?.workerId ?? null, now, ch);
    await this.commit(ch);
    return out;
  }

  async dequeueRollout(opts?: DequeueOptions): Promise<AttemptedRollout | null> {
    return (await this.dequeueMany(1, opts, "dequeueRollout"))[0] ?? null;
  }

  async dequeueManyRollouts(limit: number, opts?: DequeueOptions): Promise<AttemptedRollout[]> {
    parseOrThrow(LimitSchema, limit, "dequeueManyRollouts");
    return this.dequeueMany(limit, opts, "dequeueManyRollouts");
  }

  private async dequeueMany(limit: number, opts: DequeueOptions | undefined, where: string): Promise<AttemptedRollout[]> {
    this.assertWritable(where);
    const o = parseOrThrow(DequeueOptionsSchema, opts, where);
    const now = this.clock();
    const ch = new ChangeSet();
    const out: AttemptedRollout[] = [];
    while (out.length < limit) {
      const e = this.popQueue();
      if (!e) break;
      out.push(this.beginAttempt(e, o?.workerId ?? null, now, ch));
    }
    if (o?.workerId) {
      const w = this.touchWorker(o.workerId, ch);
      w.lastDequeueTime = now;
    }
    await this.commit(ch);
    return out;
  }

  async startAttempt(rolloutId: string, opts?: DequeueOptions): Promise<AttemptedRollout> {
    this.assertWritable("startAttempt");
    parseOrThrow(RolloutIdSchema, rolloutId, "startAttempt");
    const o = parseOrThrow(DequeueOptionsSchema, opts, "startAttempt");
    const e = this.rolloutEntry(rolloutId);
    if (e.rollout.status !== "queuing" && e.rollout.status !== "requeuing") checkRolloutTransition(rolloutId, e.rollout.status, "preparing");
    const ch = new ChangeSet();
    const out = this.beginAttempt(e, o?.workerId ?? null, this.clock(), ch);
    await this.commit(ch);
    return out;
  }

  /** Rollout -> preparing with a fresh attempt in preparing. Caller checked the rollout may start. */
  private beginAttempt(e: RolloutEntry, workerId: string | null, now: number, ch: ChangeSet): AttemptedRollout {
    const attempt: Attempt = {
      rolloutId: e.rollout.rolloutId,
      attemptId: newId("at"),
      sequenceId: e.attempts.length + 1,
      startTime: now,
      endTime: null,
      status: "preparing",
      workerId,
      lastHeartbeatTime: null,
      metadata: {},
    };
    const ae: AttemptEntry = { attempt, spans: new SpanList(), coldSpans: 0, nextSeq: 0 };
    e.attempts.push(ae);
    this.attempts.set(attempt.attemptId, ae);
    this.activeAttempts.add(ae);
    e.rollout = { ...e.rollout, status: "preparing" };
    e.queuedAt = null;
    ch.rollouts.set(e.rollout.rolloutId, e);
    ch.attempts.set(attempt.attemptId, attempt);
    if (workerId) {
      const w = this.touchWorker(workerId, ch);
      Object.assign(w, { status: "busy", currentRolloutId: e.rollout.rolloutId, currentAttemptId: attempt.attemptId, lastBusyTime: now });
    }
    return { ...copy(e.rollout), attempt: copy(attempt) };
  }

  // -------------------------------------------------------------------------
  // state

  private rolloutEntry(rolloutId: string): RolloutEntry {
    const e = this.rollouts.get(rolloutId);
    if (!e) throw new NotFoundError("rollout", rolloutId);
    return e;
  }

  private attemptEntry(rolloutId: string, attemptId: string): AttemptEntry {
    const re = this.rolloutEntry(rolloutId);
    if (attemptId === "latest") {
      const last = re.attempts[re.attempts.length - 1];
      if (!last) throw new NotFoundError("attempt", `${rolloutId}/latest`);
      return last;
    }
    const e = this.attempts.get(attemptId);
    if (!e || e.attempt.rolloutId !== rolloutId) throw new NotFoundError("attempt", `${rolloutId}/${attemptId}`);
    return e;
  }

  private setRolloutStatus(e: RolloutEntry, to: RolloutStatus, now: number, ch: ChangeSet): void {
    const from = e.rollout.status;
    if (from === to) return;
    checkRolloutTransition(e.rollout.rolloutId, from, to);
    e.rollout = { ...e.rollout, status: to, endTime: isRolloutTerminal(to) ? now : e.rollout.endTime };
    if (to === "requeuing") this.pushQueue(e);
    else e.queuedAt = null;
    ch.rollouts.set(e.rollout.rolloutId, e);
    if (isRolloutTerminal(to)) this.notifyWaiters();
  }

  /** Checks a planned rollout move without making it (so a mutation can fail before changing anything). */
  private checkRolloutMove(e: RolloutEntry, to: RolloutStatus): void {
    checkRolloutTransition(e.rollout.rolloutId, e.rollout.status, to);
  }

  async updateRollout(rolloutId: string, update: RolloutUpdate): Promise<Rollout> {
    this.assertWritable("updateRollout");
    parseOrThrow(RolloutIdSchema, rolloutId, "updateRollout");
    const u = parseOrThrow(RolloutUpdateSchema, update, "updateRollout");
    const e = this.rolloutEntry(rolloutId);
    if (u.status !== undefined) this.checkRolloutMove(e, u.status);
    const now = this.clock();
    const ch = new ChangeSet();
    const r: Rollout = { ...e.rollout };
    if ("input" in u) r.input = u.input === undefined ? null : copy(u.input);
    if (u.mode !== undefined) r.mode = u.mode;
    if (u.resourcesId !== undefined) r.resourcesId = u.resourcesId;
    if (u.config !== undefined) r.config = resolveConfig(r.config, u.config);
    if (u.metadata !== undefined) r.metadata = copy(u.metadata);
    if (u.endTime !== undefined) r.endTime = u.endTime;
    e.rollout = r;
    ch.rollouts.set(rolloutId, e);
    if (u.status !== undefined) this.setRolloutStatus(e, u.status, now, ch);
    if (u.endTime !== undefined) e.rollout.endTime = u.endTime;
    await this.commit(ch);
    return copy(e.rollout);
  }

  async updateAttempt(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<Attempt> {
    this.assertWritable("updateAttempt");
    parseOrThrow(RolloutIdSchema, rolloutId, "updateAttempt");
    parseOrThrow(AttemptIdSchema, attemptId, "updateAttempt");
    const u = parseOrThrow(AttemptUpdateSchema, update, "updateAttempt");
    const ae = this.attemptEntry(rolloutId, attemptId);
    if (u.status !== undefined) checkAttemptTransition(ae.attempt.attemptId, ae.attempt.status, u.status);
    const now = this.clock();
    const ch = new ChangeSet();
    const a: Attempt = { ...ae.attempt };
    if (u.workerId !== undefined) a.workerId = u.workerId;
    if (u.lastHeartbeatTime !== undefined) a.lastHeartbeatTime = u.lastHeartbeatTime;
    if (u.metadata !== undefined) a.metadata = copy(u.metadata);
    ae.attempt = a;
    ch.attempts.set(a.attemptId, a);
    if (u.status !== undefined) this.moveAttempt(ae, u.status, now, ch);
    if (u.endTime !== undefined) ae.attempt.endTime = u.endTime;
    await this.commit(ch);
    return copy(ae.attempt);
  }

  /**
   * Moves an attempt and lets the latest attempt of a rollout drive it:
   * running -> rollout running; succeeded -> succeeded; failed, timeout or
   * unresponsive -> requeuing while the status is a retry condition and
   * attempts remain, else failed. Older attempts never move their rollout.
   */
  private moveAttempt(ae: AttemptEntry, to: AttemptStatus, now: number, ch: ChangeSet): void {
    const from = ae.attempt.status;
    if (from === to) return;
    checkAttemptTransition(ae.attempt.attemptId, from, to);
    ae.attempt = { ...ae.attempt, status: to, endTime: isAttemptTerminal(to) ? now : ae.attempt.endTime };
    ch.attempts.set(ae.attempt.attemptId, ae.attempt);
    if (ACTIVE_ATTEMPT.includes(to)) this.activeAttempts.add(ae);
    else this.activeAttempts.delete(ae);
    if (isAttemptTerminal(to)) this.releaseWorker(ae.attempt, now, ch);

    const re = this.rollouts.get(ae.attempt.rolloutId)!;
    if (re.attempts[re.attempts.length - 1] !== ae || isRolloutTerminal(re.rollout.status)) return;
    const rs = re.rollout.status;
    if (to === "running" || to === "succeeded") {
      // An attempt that was given up as unresponsive and speaks again takes its rollout back off the queue.
      if (rs === "requeuing" || rs === "queuing") this.setRolloutStatus(re, "preparing", now, ch);
      this.setRolloutStatus(re, to, now, ch);
    } else if (to === "failed" || to === "timeout" || to === "unresponsive") {
      // Already waiting for its next attempt (or never started): nothing to decide.
      if (rs === "requeuing" || rs === "queuing") return;
      const c = re.rollout.config;
      const retry = c.retryConditions.includes(to) && re.attempts.length < c.maxAttempts;
      this.setRolloutStatus(re, retry ? "requeuing" : "failed", now, ch);
    }
  }

  private releaseWorker(a: Attempt, now: number, ch: ChangeSet): void {
    if (!a.workerId) return;
    const w = this.workers.get(a.workerId);
    if (!w || w.currentAttemptId !== a.attemptId) return;
    Object.assign(w, { status: "idle", currentRolloutId: null, currentAttemptId: null, lastIdleTime: now });
    ch.workers.set(w.workerId, w);
  }

  async getRolloutById(rolloutId: string): Promise<Rollout | null> {
    this.assertOpen();
    parseOrThrow(RolloutIdSchema, rolloutId, "getRolloutById");
    const e = this.rollouts.get(rolloutId);
    return e ? copy(e.rollout) : null;
  }

  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    this.assertOpen();
    parseOrThrow(RolloutIdSchema, rolloutId, "getLatestAttempt");
    const e = this.rollouts.get(rolloutId);
    const last = e?.attempts[e.attempts.length - 1];
    return last ? copy(last.attempt) : null;
  }

  async queryRollouts(query?: RolloutQuery): Promise<Rollout[]> {
    this.assertOpen();
    const q = parseOrThrow(RolloutQuerySchema, query, "queryRollouts") ?? {};
    const statuses = q.status === undefined ? null : new Set(Array.isArray(q.status) ? q.status : [q.status]);
    const source = q.ids ? q.ids.map((id) => this.rollouts.get(id)).filter((e): e is RolloutEntry => !!e) : this.rollouts.values();
    const out: Rollout[] = [];
    for (const e of source) {
      if (statuses && !statuses.has(e.rollout.status)) continue;
      if (q.mode !== undefined && e.rollout.mode !== q.mode) continue;
      out.push(copy(e.rollout));
    }
    return out;
  }

  async queryAttempts(rolloutId: string): Promise<Attempt[]> {
    this.assertOpen();
    parseOrThrow(RolloutIdSchema, rolloutId, "queryAttempts");
    return this.rolloutEntry(rolloutId).attempts.map((a) => copy(a.attempt));
  }

  async waitForRollouts(rolloutIds: string[], opts?: WaitOptions): Promise<Rollout[]> {
    this.assertOpen();
    const { ids, opts: o } = parseOrThrow(WaitSchema, { ids: rolloutIds, opts }, "waitForRollouts");
    const done = () => ids.map((id) => this.rollouts.get(id)).filter((e): e is RolloutEntry => !!e && isRolloutTerminal(e.rollout.status));
    const finish = () => done().map((e) => copy(e.rollout));
    if (done().length === ids.length) return finish();
    if (o?.timeoutMs === 0) return finish();
    return new Promise<Rollout[]>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const check = () => {
        if (!this.closed && done().length < ids.length) return;
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
        resolve(finish());
      };
      this.waiters.add(check);
      if (o?.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters.delete(check);
          resolve(finish());
        }, o.timeoutMs);
      }
    });
  }

  protected notifyWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  // -------------------------------------------------------------------------
  // spans

  async addSpan(span: Omit<Span, "sequenceId"> & { sequenceId?: number }): Promise<Span> {
    this.assertWritable("addSpan");
    return (await this.ingest([normalizeSpan(span, "addSpan")]))[0];
  }

  async addSpans(spans: (Omit<Span, "sequenceId"> & { sequenceId?: number })[]): Promise<Span[]> {
    this.assertWritable("addSpans");
    if (!Array.isArray(spans)) throw new ValidationError("addSpans", ["(value): expected an array of spans"]);
    const drafts = new Array<SpanDraft>(spans.length);
    for (let i = 0; i < spans.length; i++) drafts[i] = normalizeSpan(spans[i], `addSpans[${i}]`);
    return this.ingest(drafts);
  }

  async addOtelSpan(rolloutId: string, attemptId: string, otelSpan: unknown, sequenceId?: number): Promise<Span> {
    this.assertWritable("addOtelSpan");
    parseOrThrow(RolloutIdSchema, rolloutId, "addOtelSpan");
    parseOrThrow(AttemptIdSchema, attemptId, "addOtelSpan");
    if (sequenceId !== undefined) parseOrThrow(z.number().int().min(0), sequenceId, "addOtelSpan");
    const draft = normalizeSpan(otelToSpanDraft(rolloutId, attemptId, otelSpan, sequenceId), "addOtelSpan");
    return (await this.ingest([draft]))[0];
  }

  /** Spans of one call: all attempts are resolved before anything changes, so a bad one leaves the store as it was. */
  private async ingest(drafts: SpanDraft[]): Promise<Span[]> {
    let last: AttemptEntry | null = null;
    const entries = new Array<AttemptEntry>(drafts.length);
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i];
      // "latest" is not an attempt id here: spans name the attempt they belong to.
      last = last && last.attempt.attemptId === d.attemptId && last.attempt.rolloutId === d.rolloutId ? last : this.spanAttempt(d.rolloutId, d.attemptId);
      entries[i] = last;
    }
    const now = this.clock();
    const ch = new ChangeSet();
    const touched = new Set<AttemptEntry>();
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i];
      const ae = entries[i];
      let seq = d.sequenceId;
      if (seq === undefined) seq = ae.nextSeq++;
      else if (seq >= ae.nextSeq) ae.nextSeq = seq + 1;
      d.sequenceId = seq;
      touched.add(ae);
    }
    // The drafts are the store's own normalized copies and it keeps only their bytes, so they go back to the caller as they are.
    const out = drafts as Span[];
    const block = this.spanArena.encode(out, this.spanSegment);
    for (let i = 0; i < out.length; i++) entries[i].spans.insert(out[i].sequenceId, this.spanNames.intern(out[i].name), block, i, this.spanSegment);
    ch.spanBlock = block;
    this.spanCount += drafts.length;
    for (const ae of touched) {
      ae.attempt = { ...ae.attempt, lastHeartbeatTime: now };
      ch.attempts.set(ae.attempt.attemptId, ae.attempt);
      const st = ae.attempt.status;
      if (st === "preparing" || st === "unresponsive") this.moveAttempt(ae, "running", now, ch);
    }
    await this.commit(ch);
    return out;
  }

  private spanAttempt(rolloutId: string, attemptId: string): AttemptEntry {
    const e = this.attempts.get(attemptId);
    if (!e || e.attempt.rolloutId !== rolloutId) {
      if (!this.rollouts.has(rolloutId)) throw new NotFoundError("rollout", rolloutId);
      throw new NotFoundError("attempt", `${rolloutId}/${attemptId}`);
    }
    return e;
  }

  async querySpans(query?: SpanQuery): Promise<Span[]> {
    this.assertOpen();
    const q = parseOrThrow(SpanQuerySchema, query ?? {}, "querySpans");
    const limit = q.limit ?? Infinity;
    const out: Span[] = [];
    const rolloutIds = q.rolloutId !== undefined ? (this.rollouts.has(q.rolloutId) ? [q.rolloutId] : []) : this.rolloutIdsSorted();
    // Attempts of a rollout-scoped query that have spans in Parquet: only they send the query to DuckDB.
    const coldIds: string[] = [];
    for (const rid of rolloutIds) {
      const re = this.rollouts.get(rid)!;
      let attempts: AttemptEntry[];
      if (q.attemptId === "latest") attempts = re.attempts.length ? [re.attempts[re.attempts.length - 1]] : [];
      else if (q.attemptId !== undefined) attempts = re.attempts.filter((a) => a.attempt.attemptId === q.attemptId);
      else attempts = re.attempts.length > 1 ? [...re.attempts].sort((a, b) => cmp(a.attempt.attemptId, b.attempt.attemptId)) : re.attempts;
      for (const ae of attempts) if (ae.coldSpans > 0) coldIds.push(ae.attempt.attemptId);
      if (out.length >= limit) continue;
      for (const ae of attempts) {
        const spans = ae.spans;
        let i = q.minSequenceId === undefined ? 0 : spans.lowerBound(q.minSequenceId);
        for (; i < spans.length && out.length < limit; i++) {
          const name = spans.nameAt(i);
          if (q.name !== undefined && name !== q.name) continue;
          if (q.namePrefix !== undefined && !name.startsWith(q.namePrefix)) continue;
          out.push(spans.read(i));
        }
      }
    }
    if (!this.coldSpanCount || !coldIds.length) return out;
    // Unscoped queries name every attempt with cold spans: DuckDB filters cheaper without the list.
    const scoped = q.rolloutId !== undefined || q.attemptId !== undefined;
    const cold = await this.queryColdSpans({ ...q, attemptIds: scoped ? coldIds : null });
    if (!cold.length) return out;
    return mergeSpans(out, cold, limit);
  }

  /**
   * Spans kept outside memory (a durable store's Parquet parts from earlier
   * sessions), filtered like querySpans and in its order, at most `limit`.
   */
  protected async queryColdSpans(_q: ColdSpanQuery): Promise<Span[]> {
    return [];
  }

  private rolloutIdsSorted(): string[] {
    if (!this.sortedRolloutIds) this.sortedRolloutIds = [...this.rollouts.keys()].sort(cmp);
    return this.sortedRolloutIds;
  }

  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    this.assertWritable("getNextSpanSequenceId");
    parseOrThrow(RolloutIdSchema, rolloutId, "getNextSpanSequenceId");
    parseOrThrow(AttemptIdSchema, attemptId, "getNextSpanSequenceId");
    const ae = attemptId === "latest" ? this.attemptEntry(rolloutId, attemptId) : this.spanAttempt(rolloutId, attemptId);
    return ae.nextSeq++;
  }

  // -------------------------------------------------------------------------
  // resources

  async addResources(resources: NamedResources, resourcesId?: string): Promise<ResourcesUpdate> {
    this.assertWritable("addResources");
    const res = parseOrThrow(NamedResourcesSchema, resources, "addResources");
    if (resourcesId !== undefined) {
      parseOrThrow(ResourcesIdSchema, resourcesId, "addResources");
      if (this.resourcesLatest.has(resourcesId)) throw new ValidationError("addResources", [`resourcesId: ${resourcesId} already exists; use updateResources for a new version`]);
    }
    return this.putResources(resourcesId ?? newId("rs"), res);
  }

  /** A new version of `resourcesId` (version 1 when the id is new, as Agent Lightning's update creates). */
  async updateResources(resourcesId: string, resources: NamedResources): Promise<ResourcesUpdate> {
    this.assertWritable("updateResources");
    parseOrThrow(ResourcesIdSchema, resourcesId, "updateResources");
    const res = parseOrThrow(NamedResourcesSchema, resources, "updateResources");
    return this.putResources(resourcesId, res);
  }

  private async putResources(id: string, resources: NamedResources): Promise<ResourcesUpdate> {
    const now = this.clock();
    const prev = this.resourcesLatest.get(id);
    const r: ResourcesUpdate = { resourcesId: id, version: (prev?.version ?? 0) + 1, createTime: prev?.createTime ?? now, updateTime: now, resources: copy(resources) };
    this.resourceVersions.push(r);
    this.resourcesLatest.set(id, r);
    this.latestResourcesId = id;
    const ch = new ChangeSet();
    ch.resources.push(r);
    ch.latestResourcesId = id;
    await this.commit(ch);
    return copy(r);
  }

  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    this.assertOpen();
    parseOrThrow(ResourcesIdSchema, resourcesId, "getResourcesById");
    const r = this.resourcesLatest.get(resourcesId);
    return r ? copy(r) : null;
  }

  async getLatestResources(): Promise<ResourcesUpdate | null> {
    this.assertOpen();
    const r = this.latestResourcesId !== null ? this.resourcesLatest.get(this.latestResourcesId) : undefined;
    return r ? copy(r) : null;
  }

  async queryResources(): Promise<ResourcesUpdate[]> {
    this.assertOpen();
    return this.resourceVersions.map(copy);
  }

  // -------------------------------------------------------------------------
  // workers

  private touchWorker(workerId: string, ch: ChangeSet): Worker {
    let w = this.workers.get(workerId);
    if (!w) {
      w = {
        workerId,
        status: "unknown",
        heartbeatStats: null,
        lastHeartbeatTime: null,
        lastDequeueTime: null,
        lastBusyTime: null,
        lastIdleTime: null,
        currentRolloutId: null,
        currentAttemptId: null,
      };
      this.workers.set(workerId, w);
    }
    ch.workers.set(workerId, w);
    return w;
  }

  async queryWorkers(): Promise<Worker[]> {
    this.assertOpen();
    return [...this.workers.values()].map(copy);
  }

  async updateWorker(workerId: string, update: WorkerUpdate): Promise<Worker> {
    this.assertWritable("updateWorker");
    parseOrThrow(WorkerIdSchema, workerId, "updateWorker");
    const u = parseOrThrow(WorkerUpdateSchema, update, "updateWorker");
    const now = this.clock();
    const ch = new ChangeSet();
    const w = this.touchWorker(workerId, ch);
    if (u.status !== undefined && u.status !== w.status) {
      w.status = u.status;
      if (u.status === "busy") w.lastBusyTime = now;
      if (u.status === "idle") w.lastIdleTime = now;
    }
    if (u.heartbeatStats !== undefined) {
      w.heartbeatStats = u.heartbeatStats === null ? null : copy(u.heartbeatStats);
      w.lastHeartbeatTime = now;
    }
    if (u.currentRolloutId !== undefined) w.currentRolloutId = u.currentRolloutId;
    if (u.currentAttemptId !== undefined) w.currentAttemptId = u.currentAttemptId;
    await this.commit(ch);
    return copy(w);
  }

  async heartbeat(rolloutId: string, attemptId: string, workerId?: string): Promise<void> {
    this.assertWritable("heartbeat");
    parseOrThrow(RolloutIdSchema, rolloutId, "heartbeat");
    parseOrThrow(AttemptIdSchema, attemptId, "heartbeat");
    if (workerId !== undefined) parseOrThrow(WorkerIdSchema, workerId, "heartbeat");
    const ae = this.attemptEntry(rolloutId, attemptId);
    const now = this.clock();
    const ch = new ChangeSet();
    ae.attempt = { ...ae.attempt, lastHeartbeatTime: now };
    ch.attempts.set(ae.attempt.attemptId, ae.attempt);
    if (ae.attempt.status === "unresponsive") this.moveAttempt(ae, "running", now, ch);
    if (workerId !== undefined) this.touchWorker(workerId, ch).lastHeartbeatTime = now;
    await this.commit(ch);
  }

  // -------------------------------------------------------------------------
  // deadlines and statistics

  async checkDeadlines(now?: number): Promise<void> {
    this.assertWritable("checkDeadlines");
    const t = parseOrThrow(NowSchema, now, "checkDeadlines") ?? this.clock();
    const ch = new ChangeSet();
    for (const ae of [...this.activeAttempts]) {
      const a = ae.attempt;
      const c = this.rollouts.get(a.rolloutId)!.rollout.config;
      if (c.timeoutSeconds !== null && t - a.startTime > c.timeoutSeconds * 1000) {
        this.moveAttempt(ae, "timeout", t, ch);
      } else if (c.unresponsiveSeconds !== null && a.status !== "unresponsive" && t - (a.lastHeartbeatTime ?? a.startTime) > c.unresponsiveSeconds * 1000) {
        this.moveAttempt(ae, "unresponsive", t, ch);
      }
    }
    await this.commit(ch);
  }

  async statistics(): Promise<StoreStatistics> {
    this.assertOpen();
    const byStatus: Record<string, number> = {};
    for (const e of this.rollouts.values()) byStatus[e.rollout.status] = (byStatus[e.rollout.status] ?? 0) + 1;
    return {
      rollouts: this.rollouts.size,
      rolloutsByStatus: byStatus,
      attempts: this.attempts.size,
      spans: this.spanCount,
      resources: this.resourceVersions.length,
      workers: this.workers.size,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopDeadlineTimer();
    // Waiters resolve with what finished so far rather than hang on a closed store.
    this.notifyWaiters();
  }

  /** Drops every record so a closed store held by a stray reference frees its memory. */
  protected releaseMemory(): void {
    this.resetState();
  }
}

export interface ColdSpanQuery {
  rolloutId?: string;
  /** null: any attempt. */
  attemptIds: string[] | null;
  name?: string;
  namePrefix?: string;
  minSequenceId?: number;
  limit?: number;
}

function spanOrder(a: Span, b: Span): number {
  return cmp(a.rolloutId, b.rolloutId) || cmp(a.attemptId, b.attemptId) || a.sequenceId - b.sequenceId;
}

/** Merges two lists sorted by (rolloutId, attemptId, sequenceId), keeping the first `limit`. */
function mergeSpans(a: Span[], b: Span[], limit: number): Span[] {
  const out: Span[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && spanOrder(a[i], b[j]) <= 0)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}


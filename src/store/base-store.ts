// The LightningStore operations of a store that holds its state in this
// process (the in-memory and the durable store). A backend extends BaseStore
// and implements persist(); memory-store.ts is the smallest one. A store whose
// state lives elsewhere (remote-store.ts, a database) implements
// LightningStore directly and validates with operation-args.ts.
//
// Every mutation validates first, then changes state synchronously (ids and
// sequence numbers are assigned before any await, so concurrent callers in
// one process can never interleave), then hands the changed records to
// `persist`, which the durable store turns into a WAL append.
//
// The pieces: rollout-queue.ts (dequeue order), attempt-lifecycle.ts (the
// attempt state machine and deadlines), span-index.ts (spans in memory),
// resource-versions.ts, worker-table.ts; change-set.ts collects what a
// mutation changed.

import type { z } from "zod";
import {
  DEFAULT_ROLLOUT_CONFIG,
  isRolloutTerminal,
  NotFoundError,
  parseOrThrow,
  ReadOnlyStoreError,
  StoreClosedError,
  ValidationError,
  type Attempt,
  type AttemptedRollout,
  type AttemptUpdate,
  type EnqueueRolloutRequest,
  type NamedResources,
  type ResourcesUpdate,
  type Rollout,
  type RolloutConfig,
  type RolloutUpdate,
  type Span,
  type SpanQuery,
  type Worker,
  type WorkerUpdate,
} from "../types/index.js";
import { parseId } from "../types/validate.js";
import { EnqueueRolloutSchema, RolloutUpdateSchema } from "../types/rollout.js";
import { checkAttemptTransition, checkRolloutTransition } from "../types/status.js";
import { NamedResourcesSchema } from "../types/resources.js";
import { SpanQuerySchema } from "../types/span.js";
import { AttemptLifecycle } from "./attempt-lifecycle.js";
import { ChangeSet } from "./change-set.js";
import { cmp, copy, newAttemptEntry, newId, type AttemptEntry, type RolloutEntry } from "./entries.js";
import type { DequeueOptions, LightningStore, RolloutQuery, StoreStatistics, WaitOptions } from "./lightning-store.js";
import {
  AttemptIdSchema,
  parseAttemptUpdate,
  parseDequeueOptions,
  LimitSchema,
  NowSchema,
  ResourcesIdSchema,
  RolloutIdSchema,
  RolloutQuerySchema,
  SequenceIdSchema,
  WaitSchema,
  WorkerIdSchema,
  WorkerUpdateSchema,
} from "./operation-args.js";
import { otelToSpanDraft } from "./otel-span.js";
import { finalReward } from "../adapter/rewards.js";
import { ResourceVersions } from "./resource-versions.js";
import { RolloutQueue } from "./rollout-queue.js";
import { normalizeSpan, type SpanDraft } from "./span-input.js";
import { SpanIndex } from "./span-index.js";
import type { SpanBlock } from "./span-list.js";
import { resolveConfig, type ParsedStoreOptions } from "./store-options.js";
import type { WalRecord } from "./wal.js";
import { WorkerTable } from "./worker-table.js";

export type ParsedSpanQuery = z.output<typeof SpanQuerySchema>;

export abstract class BaseStore implements LightningStore {
  abstract readonly kind: "memory" | "durable";
  readonly readOnly: boolean;
  readonly defaults: RolloutConfig;
  protected readonly clock: () => number;

  protected readonly rollouts = new Map<string, RolloutEntry>();
  protected readonly attempts = new Map<string, AttemptEntry>();
  protected readonly workers = new WorkerTable();
  protected readonly resources = new ResourceVersions();
  protected readonly spans = new SpanIndex();
  private readonly queue = new RolloutQueue();
  private readonly lifecycle = new AttemptLifecycle({
    rollouts: this.rollouts,
    attempts: this.attempts,
    queue: this.queue,
    workers: this.workers,
    onRolloutTerminal: (rolloutId) => this.notifyWaiters(rolloutId),
  });
  private sortedRolloutIds: string[] | null = null;
  /** waitForRollouts calls in progress; each is told which rollout ended (none: look at every id again). */
  private waiters = new Set<(endedRolloutId?: string) => void>();
  private deadlineTimer: NodeJS.Timeout | null = null;
  protected closed = false;

  constructor(opts: ParsedStoreOptions) {
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

  /**
   * Not async, and callers await only a promise: a memory store has nothing to wait for, and every
   * promise in a rollout's path costs (with AsyncLocalStorage on, Node 20 runs a hook for each; issue 14).
   */
  private commit(ch: ChangeSet): Promise<void> | void {
    if (ch.empty) return;
    return this.persist(ch.toRecord(), ch.spanBlock);
  }

  // -------------------------------------------------------------------------
  // replay (durable stores rebuild state from snapshots and WAL records)

  /** Applies a logged record (spans included, when it has them). */
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
      if (r.queuedAt !== null) this.queue.notePosition(r.queuedAt);
    }
    for (const a of rec.attempts ?? []) {
      const e = this.attempts.get(a.attemptId);
      if (e) {
        e.attempt = a;
      } else {
        const re = this.rollouts.get(a.rolloutId);
        if (!re) continue;
        const entry = newAttemptEntry(a, false);
        this.attempts.set(a.attemptId, entry);
        re.attempts.push(entry);
        re.attempts.sort((x, y) => x.attempt.sequenceId - y.attempt.sequenceId);
      }
    }
    if (rec.spans) this.applySpans(rec.spans);
    for (const r of rec.resources ?? []) this.resources.apply(r);
    if (rec.latestResourcesId !== undefined) this.resources.latestId = rec.latestResourcesId;
    for (const w of rec.workers ?? []) this.workers.apply(w);
  }

  /** Spans restored from the log; `block` is their JSON lines when the log had them as such. */
  protected applySpans(spans: Span[], block?: SpanBlock): void {
    this.spans.apply(this.attempts, spans, block);
  }

  /** After replay: rebuild the queue and the active-attempt set from the records. */
  protected rebuildIndexes(): void {
    this.queue.rebuild(this.rollouts.values());
    this.lifecycle.rebuild();
    this.sortedRolloutIds = null;
  }

  protected resetState(): void {
    this.rollouts.clear();
    this.attempts.clear();
    this.workers.clear();
    this.resources.clear();
    this.spans.clear();
    this.queue.clear();
    this.lifecycle.clear();
    this.sortedRolloutIds = null;
  }

  /** Full state as records, for a durable checkpoint (spans excluded: they go to Parquet). */
  protected snapshotRecord(): WalRecord {
    const latest = this.resources.latestId;
    return {
      rollouts: [...this.rollouts.values()].map((e) => ({ rollout: e.rollout, queuedAt: e.queuedAt })),
      attempts: [...this.attempts.values()].map((e) => e.attempt),
      resources: [...this.resources.all()],
      workers: [...this.workers.values()],
      ...(latest !== null ? { latestResourcesId: latest } : {}),
    };
  }

  // -------------------------------------------------------------------------
  // queue

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
      if (this.rollouts.has(p.rolloutId) || seen.has(p.rolloutId))
        throw new ValidationError(where, [`rolloutId: ${p.rolloutId} already exists`]);
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
      this.queue.push(e);
      out.push(copy(e.rollout));
    }
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return out;
  }

  async startRollout(req: EnqueueRolloutRequest, opts?: DequeueOptions): Promise<AttemptedRollout> {
    this.assertWritable("startRollout");
    const [p] = this.parseEnqueue([req], "startRollout");
    const o = parseDequeueOptions(opts, "startRollout");
    const now = this.clock();
    const ch = new ChangeSet();
    const e = this.makeRollout(p, now);
    this.insertRollout(e, ch);
    const out = this.lifecycle.begin(e, o?.workerId ?? null, now, ch);
    const persisting = this.commit(ch);
    if (persisting) await persisting;
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
    const o = parseDequeueOptions(opts, where);
    const now = this.clock();
    const ch = new ChangeSet();
    const out: AttemptedRollout[] = [];
    while (out.length < limit) {
      const e = this.queue.pop(this.rollouts);
      if (!e) break;
      out.push(this.lifecycle.begin(e, o?.workerId ?? null, now, ch));
    }
    if (o?.workerId) this.workers.touch(o.workerId, ch).lastDequeueTime = now;
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return out;
  }

  async startAttempt(rolloutId: string, opts?: DequeueOptions): Promise<AttemptedRollout> {
    this.assertWritable("startAttempt");
    parseId(RolloutIdSchema, rolloutId, "startAttempt");
    const o = parseDequeueOptions(opts, "startAttempt");
    const e = this.rolloutEntry(rolloutId);
    if (e.rollout.status !== "queuing" && e.rollout.status !== "requeuing")
      checkRolloutTransition(rolloutId, e.rollout.status, "preparing");
    const ch = new ChangeSet();
    const out = this.lifecycle.begin(e, o?.workerId ?? null, this.clock(), ch);
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return out;
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

  async updateRollout(rolloutId: string, update: RolloutUpdate): Promise<Rollout> {
    this.assertWritable("updateRollout");
    parseId(RolloutIdSchema, rolloutId, "updateRollout");
    const u = parseOrThrow(RolloutUpdateSchema, update, "updateRollout");
    const e = this.rolloutEntry(rolloutId);
    // Checked before anything changes, so a refused move leaves the rollout as it was.
    if (u.status !== undefined) checkRolloutTransition(rolloutId, e.rollout.status, u.status);
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
    if (u.status !== undefined) this.lifecycle.setRolloutStatus(e, u.status, now, ch);
    if (u.endTime !== undefined) e.rollout.endTime = u.endTime;
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return copy(e.rollout);
  }

  async updateAttempt(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<Attempt> {
    this.assertWritable("updateAttempt");
    parseId(RolloutIdSchema, rolloutId, "updateAttempt");
    parseId(AttemptIdSchema, attemptId, "updateAttempt");
    const u = parseAttemptUpdate(update, "updateAttempt");
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
    if (u.status !== undefined) this.lifecycle.move(ae, u.status, now, ch);
    if (u.endTime !== undefined) ae.attempt.endTime = u.endTime;
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return copy(ae.attempt);
  }

  async getRolloutById(rolloutId: string): Promise<Rollout | null> {
    this.assertOpen();
    parseId(RolloutIdSchema, rolloutId, "getRolloutById");
    const e = this.rollouts.get(rolloutId);
    return e ? copy(e.rollout) : null;
  }

  async getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    this.assertOpen();
    parseId(RolloutIdSchema, rolloutId, "getLatestAttempt");
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
    parseId(RolloutIdSchema, rolloutId, "queryAttempts");
    return this.rolloutEntry(rolloutId).attempts.map((a) => copy(a.attempt));
  }

  async waitForRollouts(rolloutIds: string[], opts?: WaitOptions): Promise<Rollout[]> {
    this.assertOpen();
    const { ids, opts: o } = parseOrThrow(WaitSchema, { ids: rolloutIds, opts }, "waitForRollouts");
    const ended = (id: string) => {
      const e = this.rollouts.get(id);
      return !!e && isRolloutTerminal(e.rollout.status);
    };
    const finish = () => ids.filter(ended).map((id) => copy(this.rollouts.get(id)!.rollout));
    // Terminal statuses are final, so each id is checked off once: a rollout ending costs O(1) per waiter, not O(ids).
    const pending = new Set(ids.filter((id) => !ended(id)));
    if (!pending.size || o?.timeoutMs === 0) return finish();
    return new Promise<Rollout[]>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const check = (endedRolloutId?: string) => {
        if (endedRolloutId !== undefined) pending.delete(endedRolloutId);
        else for (const id of pending) if (ended(id)) pending.delete(id);
        if (!this.closed && pending.size) return;
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

  protected notifyWaiters(endedRolloutId?: string): void {
    for (const w of [...this.waiters]) w(endedRolloutId);
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
    parseId(RolloutIdSchema, rolloutId, "addOtelSpan");
    parseId(AttemptIdSchema, attemptId, "addOtelSpan");
    if (sequenceId !== undefined) parseOrThrow(SequenceIdSchema, sequenceId, "addOtelSpan");
    // The conversion is a fresh object nothing else holds: checked, not copied again.
    const draft = normalizeSpan(otelToSpanDraft(rolloutId, attemptId, otelSpan, sequenceId), "addOtelSpan", true);
    return (await this.ingest([draft]))[0];
  }

  /** Spans of one call: all attempts are resolved before anything changes, so a bad one leaves the store as it was. */
  private async ingest(drafts: SpanDraft[]): Promise<Span[]> {
    let last: AttemptEntry | null = null;
    const entries = new Array<AttemptEntry>(drafts.length);
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i];
      // "latest" is not an attempt id here: spans name the attempt they belong to.
      last =
        last && last.attempt.attemptId === d.attemptId && last.attempt.rolloutId === d.rolloutId
          ? last
          : this.spanAttempt(d.rolloutId, d.attemptId);
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
    ch.spanBlock = this.spans.insert(entries, out);
    for (const ae of touched) this.lifecycle.touch(ae, now, ch, SPAN_WAKES);
    const persisting = this.commit(ch);
    if (persisting) await persisting;
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
    return this.findSpans(parseOrThrow(SpanQuerySchema, query ?? {}, "querySpans"));
  }

  /** The spans a validated query asks for; a durable store adds those held only on disk. */
  protected async findSpans(q: ParsedSpanQuery): Promise<Span[]> {
    const limit = q.limit ?? Infinity;
    const out: Span[] = [];
    for (const attempts of this.queryScope(q)) {
      if (out.length >= limit) break;
      this.spans.read(attempts, q, limit, out);
    }
    return out;
  }

  /** The attempts a span query covers, rollout by rollout, in the order querySpans returns their spans. */
  protected *queryScope(q: ParsedSpanQuery): Generator<AttemptEntry[]> {
    const rolloutIds = q.rolloutId !== undefined ? (this.rollouts.has(q.rolloutId) ? [q.rolloutId] : []) : this.rolloutIdsSorted();
    for (const rid of rolloutIds) {
      const re = this.rollouts.get(rid)!;
      if (q.attemptId === "latest") yield re.attempts.length ? [re.attempts[re.attempts.length - 1]] : [];
      else if (q.attemptId !== undefined) yield re.attempts.filter((a) => a.attempt.attemptId === q.attemptId);
      else yield re.attempts.length > 1 ? [...re.attempts].sort((a, b) => cmp(a.attempt.attemptId, b.attempt.attemptId)) : re.attempts;
    }
  }

  private rolloutIdsSorted(): string[] {
    if (!this.sortedRolloutIds) this.sortedRolloutIds = [...this.rollouts.keys()].sort(cmp);
    return this.sortedRolloutIds;
  }

  async attemptReward(rolloutId: string, attemptId: string): Promise<number | null> {
    this.assertOpen();
    parseId(RolloutIdSchema, rolloutId, "attemptReward");
    parseId(AttemptIdSchema, attemptId, "attemptReward");
    const ae = this.attemptEntry(rolloutId, attemptId);
    if (ae.rewardTracked) return ae.reward?.value ?? null;
    return finalReward(await this.findSpans({ rolloutId, attemptId: ae.attempt.attemptId }));
  }

  async getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    this.assertWritable("getNextSpanSequenceId");
    parseId(RolloutIdSchema, rolloutId, "getNextSpanSequenceId");
    parseId(AttemptIdSchema, attemptId, "getNextSpanSequenceId");
    const ae = attemptId === "latest" ? this.attemptEntry(rolloutId, attemptId) : this.spanAttempt(rolloutId, attemptId);
    return ae.nextSeq++;
  }

  // -------------------------------------------------------------------------
  // resources

  async addResources(resources: NamedResources, resourcesId?: string): Promise<ResourcesUpdate> {
    this.assertWritable("addResources");
    const res = parseOrThrow(NamedResourcesSchema, resources, "addResources");
    if (resourcesId !== undefined) {
      parseId(ResourcesIdSchema, resourcesId, "addResources");
      if (this.resources.has(resourcesId))
        throw new ValidationError("addResources", [`resourcesId: ${resourcesId} already exists; use updateResources for a new version`]);
    }
    return this.putResources(resourcesId ?? newId("rs"), res);
  }

  /** A new version of `resourcesId` (version 1 when the id is new, as Agent Lightning's update creates). */
  async updateResources(resourcesId: string, resources: NamedResources): Promise<ResourcesUpdate> {
    this.assertWritable("updateResources");
    parseId(ResourcesIdSchema, resourcesId, "updateResources");
    const res = parseOrThrow(NamedResourcesSchema, resources, "updateResources");
    return this.putResources(resourcesId, res);
  }

  private async putResources(id: string, resources: NamedResources): Promise<ResourcesUpdate> {
    const r = this.resources.put(id, resources, this.clock());
    const ch = new ChangeSet();
    ch.resources.push(r);
    ch.latestResourcesId = id;
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return copy(r);
  }

  async getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    this.assertOpen();
    parseId(ResourcesIdSchema, resourcesId, "getResourcesById");
    const r = this.resources.get(resourcesId);
    return r ? copy(r) : null;
  }

  async getLatestResources(): Promise<ResourcesUpdate | null> {
    this.assertOpen();
    const r = this.resources.latest();
    return r ? copy(r) : null;
  }

  async queryResources(): Promise<ResourcesUpdate[]> {
    this.assertOpen();
    return this.resources.all().map(copy);
  }

  // -------------------------------------------------------------------------
  // workers

  async queryWorkers(): Promise<Worker[]> {
    this.assertOpen();
    return [...this.workers.values()].map(copy);
  }

  async updateWorker(workerId: string, update: WorkerUpdate): Promise<Worker> {
    this.assertWritable("updateWorker");
    parseId(WorkerIdSchema, workerId, "updateWorker");
    const u = parseOrThrow(WorkerUpdateSchema, update, "updateWorker");
    const ch = new ChangeSet();
    const w = this.workers.update(workerId, u, this.clock(), ch);
    const persisting = this.commit(ch);
    if (persisting) await persisting;
    return copy(w);
  }

  async heartbeat(rolloutId: string, attemptId: string, workerId?: string): Promise<void> {
    this.assertWritable("heartbeat");
    parseId(RolloutIdSchema, rolloutId, "heartbeat");
    parseId(AttemptIdSchema, attemptId, "heartbeat");
    if (workerId !== undefined) parseId(WorkerIdSchema, workerId, "heartbeat");
    const ae = this.attemptEntry(rolloutId, attemptId);
    const now = this.clock();
    const ch = new ChangeSet();
    this.lifecycle.touch(ae, now, ch, HEARTBEAT_WAKES);
    if (workerId !== undefined) this.workers.touch(workerId, ch).lastHeartbeatTime = now;
    const persisting = this.commit(ch);
    if (persisting) await persisting;
  }

  // -------------------------------------------------------------------------
  // deadlines and statistics

  async checkDeadlines(now?: number): Promise<void> {
    this.assertWritable("checkDeadlines");
    const t = parseOrThrow(NowSchema, now, "checkDeadlines") ?? this.clock();
    const ch = new ChangeSet();
    this.lifecycle.checkDeadlines(t, ch);
    const persisting = this.commit(ch);
    if (persisting) await persisting;
  }

  async statistics(): Promise<StoreStatistics> {
    this.assertOpen();
    const byStatus: Record<string, number> = {};
    for (const e of this.rollouts.values()) byStatus[e.rollout.status] = (byStatus[e.rollout.status] ?? 0) + 1;
    return {
      rollouts: this.rollouts.size,
      rolloutsByStatus: byStatus,
      attempts: this.attempts.size,
      spans: this.spans.count,
      resources: this.resources.size,
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

/** A span of an attempt still preparing means it runs; one from an attempt given up as unresponsive revives it. */
const SPAN_WAKES = ["preparing", "unresponsive"] as const;
/** A heartbeat revives an unresponsive attempt; a preparing one stays preparing until the runner says it runs. */
const HEARTBEAT_WAKES = ["unresponsive"] as const;

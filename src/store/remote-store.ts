// A LightningStore whose state lives in a store server (`arclight store serve`).
// Calls fail like local ones (ValidationError, NotFoundError, ... rebuilt from
// the wire) and survive the network: a call that hits a refused connection,
// a timeout or a 502/503/504 is sent again with the same idempotency key until
// `retryForMs` runs out. Writes are never applied twice: the server answers a
// repeated key with the first result, and after a server restart (which
// forgets keys) ids chosen here let the client recognise its own earlier write.

import { randomBytes, randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { z } from "zod";
import type {
  Attempt,
  AttemptedRollout,
  AttemptUpdate,
  EnqueueRolloutRequest,
  NamedResources,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutUpdate,
  Span,
  SpanInput,
  SpanQuery,
  Worker,
  WorkerUpdate,
} from "../types/index.js";
import { parseOrThrow, StoreClosedError, ValidationError } from "../types/index.js";
import { parseJsonText } from "../types/json.js";
import type { DequeueOptions, LightningStore, RolloutQuery, StoreStatistics, WaitOptions } from "./lightning-store.js";
import { finalReward } from "../adapter/rewards.js";
import { otelToSpanDraft } from "./otel-span.js";
import { normalizeSpan } from "./span-input.js";
import { httpRequest } from "./http-client.js";
import {
  claimRolloutSteps,
  completeAttemptSteps,
  rewardFromSpans,
  heartbeatSteps,
  spanFailureUpdate,
  type ClaimedRollout,
  type CompletedAttempt,
} from "./runner-steps.js";
import {
  API_PREFIX,
  errorFromWire,
  IDEMPOTENCY_HEADER,
  OPERATIONS,
  RemoteStoreError,
  RETRY_HEADER,
  StoreInfoSchema,
  type OperationName,
  type SpanResult,
  type StoreInfo,
} from "./remote-protocol.js";

export const ConnectOptionsSchema = z
  .object({
    /** Sent as `authorization: Bearer <token>`. Defaults to $ARCLIGHT_TOKEN. */
    token: z.string().min(1).optional(),
    /** Per-request timeout for calls that do not wait (default 30 s). */
    timeoutMs: z.number().int().positive().optional(),
    /** How long a call keeps retrying through refused connections and 502/503/504 (default 20 s). */
    retryForMs: z.number().int().min(0).optional(),
    /** dequeueRollout long-polls the server this long for work before answering null (default 0: answer at once). */
    dequeueWaitMs: z.number().int().min(0).max(60_000).optional(),
  })
  .strict();
export type ConnectOptions = z.input<typeof ConnectOptionsSchema>;

type SpanArg = Omit<SpanInput, "sequenceId"> & { sequenceId?: number };

/** A span handed to addSpan, from then until the store has it (or refused it). */
interface PendingSpan {
  span: SpanArg;
  resolve(s: Span): void;
  reject(e: unknown): void;
  /** Resolves when the span is stored (null) or refused (the error). */
  settled: Promise<unknown>;
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const newId = (prefix: string) => `${prefix}-${randomBytes(8).toString("hex")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Statuses that say "not now": nothing was applied, or the idempotency key makes a repeat harmless. */
const RETRY_STATUSES = new Set([408, 429, 502, 503, 504]);

/**
 * `await connectStore("http://trainer:4747", { token })`: the store served
 * there, as a LightningStore. Fails fast (after `retryForMs`) when nothing
 * answers, or with 401 on a wrong token.
 */
export async function connectStore(url: string, opts: ConnectOptions = {}): Promise<RemoteStore> {
  const o = parseOrThrow(ConnectOptionsSchema, opts, "connectStore");
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ValidationError("connectStore", [`url: ${JSON.stringify(url)} is not a URL (expected e.g. http://127.0.0.1:4747)`]);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:")
    throw new ValidationError("connectStore", [`url: expected http:// or https://, got ${base.protocol}`]);
  const store = new RemoteStore(base.href.replace(/\/+$/, ""), { ...o, token: o.token ?? (process.env.ARCLIGHT_TOKEN || undefined) });
  await store.connect();
  return store;
}

export class RemoteStore implements LightningStore {
  readonly url: string;
  private info: StoreInfo | null = null;
  private closed = false;
  private readonly closing = new AbortController();
  private waits = new AbortController();
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  private readonly dequeueWaitMs: number;

  constructor(url: string, opts: ConnectOptions) {
    this.url = url;
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retryForMs = opts.retryForMs ?? 20_000;
    this.dequeueWaitMs = opts.dequeueWaitMs ?? 0;
    // Every call in flight listens for close().
    setMaxListeners(0, this.closing.signal, this.waits.signal);
  }

  get kind(): "memory" | "durable" {
    return this.describe().kind;
  }
  get readOnly(): boolean {
    return this.describe().readOnly;
  }
  get defaults(): RolloutConfig {
    return structuredClone(this.describe().defaults) as RolloutConfig;
  }

  private describe(): StoreInfo {
    if (!this.info) throw new Error("RemoteStore: use connectStore(url), which fetches the server's description first");
    return this.info;
  }

  private readonly urls = new Map<string, URL>();
  private base(path: string): URL {
    let u = this.urls.get(path);
    if (!u) this.urls.set(path, (u = new URL(this.url + path)));
    return u;
  }

  /** Fetches the server's kind and defaults; connectStore calls it. */
  async connect(): Promise<void> {
    const body = await this.request("GET", `${API_PREFIX}/info`, undefined, {
      write: false,
      timeoutMs: this.timeoutMs,
      idempotencyKey: undefined,
    });
    this.info = parseOrThrow(StoreInfoSchema, body, "store server /v1/agl/info");
  }

  // -------------------------------------------------------------------------
  // transport

  private async call<T>(
    name: OperationName,
    body: Record<string, unknown>,
    extra: { timeoutMs?: number; signal?: AbortSignal; onRetryError?: (e: Error) => Promise<T | undefined> } = {},
  ): Promise<T> {
    if (this.closed) throw new StoreClosedError();
    const op = OPERATIONS[name];
    const res = (await this.request("POST", `${API_PREFIX}${op.path}`, body, {
      write: op.write,
      timeoutMs: extra.timeoutMs ?? this.timeoutMs,
      idempotencyKey: op.write ? randomUUID() : undefined,
      signal: extra.signal,
      onRetryError: extra.onRetryError as ((e: Error) => Promise<unknown>) | undefined,
    })) as { result: T };
    return res.result;
  }

  private async request(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    o: {
      write: boolean;
      timeoutMs: number;
      idempotencyKey: string | undefined;
      signal?: AbortSignal;
      onRetryError?: (e: Error) => Promise<unknown>;
    },
  ): Promise<unknown> {
    const started = Date.now();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let tries = 0;
    let serverErrors = 0;
    let lastFailure = "";
    for (;;) {
      if (this.closed) throw new StoreClosedError();
      const headers: Record<string, string> = { accept: "application/json", [RETRY_HEADER]: String(tries) };
      if (payload !== undefined) headers["content-type"] = "application/json";
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (o.idempotencyKey) headers[IDEMPOTENCY_HEADER] = o.idempotencyKey;
      let status = 0;
      let text = "";
      // One controller per try, its timer cleared on the answer (AbortSignal.any/timeout cost more per call and linger).
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), o.timeoutMs);
      const stop = () => abort.abort();
      this.closing.signal.addEventListener("abort", stop, { once: true });
      o.signal?.addEventListener("abort", stop, { once: true });
      try {
        if (o.signal?.aborted) abort.abort();
        const res = await httpRequest(this.base(path), { method, headers, body: payload, signal: abort.signal });
        status = res.status;
        text = res.text;
      } catch (e) {
        if (this.closed) throw new StoreClosedError();
        if (o.signal?.aborted) throw new WaitCancelled();
        const err = e as Error & { code?: string };
        lastFailure =
          err.name === "AbortError" || err.name === "TimeoutError" ? `no answer within ${o.timeoutMs} ms` : (err.code ?? err.message);
      } finally {
        clearTimeout(timer);
        this.closing.signal.removeEventListener("abort", stop);
        o.signal?.removeEventListener("abort", stop);
      }
      if (status >= 200 && status < 300) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new RemoteStoreError(status, "BadResponse", `store server ${this.url}${path} answered something that is not JSON`);
        }
      }
      if (status !== 0) {
        // Not JSON: the error below quotes the text.
        const err = errorFromWire(status, parseJsonText(text));
        if (status === 500 && ++serverErrors <= 2) lastFailure = err.message;
        else if (!RETRY_STATUSES.has(status)) {
          // A retried write the server no longer remembers (it restarted) may have been applied the first time.
          if (tries > 0 && o.onRetryError) {
            const mine = await o.onRetryError(err);
            if (mine !== undefined) return { result: mine };
          }
          throw err;
        } else lastFailure = err.message;
      }
      if (Date.now() - started >= this.retryForMs) {
        throw new RemoteStoreError(
          status,
          "Unavailable",
          `store server ${this.url} did not answer ${path} (${lastFailure}) for ${Date.now() - started} ms`,
        );
      }
      tries++;
      await sleep(Math.min(25 * 2 ** Math.min(tries, 6), 1000) * (0.5 + Math.random() / 2));
    }
  }

  // -------------------------------------------------------------------------
  // queue

  async enqueueRollout(req: EnqueueRolloutRequest): Promise<Rollout> {
    const [sent, mine] = withRolloutId(req);
    return this.call(
      "enqueueRollout",
      { request: sent },
      { onRetryError: async () => (mine ? ((await this.getRolloutById(mine)) ?? undefined) : undefined) },
    );
  }

  async enqueueManyRollouts(reqs: EnqueueRolloutRequest[]): Promise<Rollout[]> {
    if (!Array.isArray(reqs)) return this.call("enqueueManyRollouts", { requests: reqs as never });
    const sent = reqs.map((r) => withRolloutId(r));
    const ids = sent.map(([, id]) => id);
    return this.call(
      "enqueueManyRollouts",
      { requests: sent.map(([r]) => r) },
      {
        onRetryError: async () => {
          if (ids.some((id) => id === null)) return undefined;
          const got = await this.queryRollouts({ ids: ids as string[] });
          return got.length === ids.length ? (ids.map((id) => got.find((r) => r.rolloutId === id)!) as Rollout[]) : undefined;
        },
      },
    );
  }

  async startRollout(req: EnqueueRolloutRequest, opts?: DequeueOptions): Promise<AttemptedRollout> {
    const [sent, mine] = withRolloutId(req);
    return this.call(
      "startRollout",
      { request: sent, options: opts },
      {
        onRetryError: async () => {
          if (!mine) return undefined;
          const [r, a] = await Promise.all([this.getRolloutById(mine), this.getLatestAttempt(mine)]);
          return r && a ? { ...r, attempt: a } : undefined;
        },
      },
    );
  }

  async dequeueRollout(opts?: DequeueOptions): Promise<AttemptedRollout | null> {
    const waitMs = this.dequeueWaitMs || undefined;
    try {
      return await this.call(
        "dequeueRollout",
        { options: opts, waitMs },
        { timeoutMs: this.timeoutMs + (waitMs ?? 0), signal: waitMs ? this.waits.signal : undefined },
      );
    } catch (e) {
      if (e instanceof WaitCancelled) return null;
      throw e;
    }
  }

  async dequeueManyRollouts(limit: number, opts?: DequeueOptions): Promise<AttemptedRollout[]> {
    const waitMs = this.dequeueWaitMs || undefined;
    try {
      return await this.call(
        "dequeueManyRollouts",
        { limit, options: opts, waitMs },
        { timeoutMs: this.timeoutMs + (waitMs ?? 0), signal: waitMs ? this.waits.signal : undefined },
      );
    } catch (e) {
      if (e instanceof WaitCancelled) return [];
      throw e;
    }
  }

  /**
   * Ends the long-poll dequeues in flight now (they answer "nothing"), so a
   * stopping runner does not sit out a wait, or retries against a server that
   * is gone. Other calls are unaffected.
   */
  cancelWaits(): void {
    this.waits.abort();
    this.waits = new AbortController();
    setMaxListeners(0, this.waits.signal);
  }

  /** One request for what a runner does before its agent runs (see runner-steps.ts); long-polls like dequeueRollout. */
  async claimRollout(opts: DequeueOptions & { workerId: string }): Promise<ClaimedRollout | null> {
    if (this.olderServer) return claimRolloutSteps(this, opts);
    const waitMs = this.dequeueWaitMs || undefined;
    try {
      return await this.call(
        "claimRollout",
        { options: opts, waitMs },
        { timeoutMs: this.timeoutMs + (waitMs ?? 0), signal: waitMs ? this.waits.signal : undefined },
      );
    } catch (e) {
      if (e instanceof WaitCancelled) return null;
      if (!isMissingEndpoint(e)) throw e;
      this.olderServer = true;
      return claimRolloutSteps(this, opts);
    }
  }

  /** completeAttempt stores this attempt's unacknowledged spans before its update (see below). */
  readonly completeStoresSpans = true;

  /**
   * One request for what a runner does last: the attempt's spans added but not
   * sent yet go along with it (saving the separate addSpans round trip), spans
   * already on their way are waited for, and the update becomes "failed" when
   * any of them is refused. Then the final update, the rollout and the spans.
   */
  async completeAttempt(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<CompletedAttempt> {
    const mine = (q: PendingSpan) => isObj(q.span) && q.span.rolloutId === rolloutId && q.span.attemptId === attemptId;
    const riding = !this.olderServer && this.info?.features?.includes("complete-spans") ? this.spanQueue.filter(mine) : [];
    if (riding.length) this.spanQueue = this.spanQueue.filter((q) => !riding.includes(q));
    // A server without the feature gets them in the usual addSpans request, which the update waits for.
    const earlier = [...this.unacked].filter((q) => mine(q) && !riding.includes(q));
    const refused = (await Promise.all(earlier.map((q) => q.settled))).find((e) => e !== null);
    if (refused !== undefined && isObj(update)) update = spanFailureUpdate(update, refused);
    if (riding.length) return this.completeWithSpans(rolloutId, attemptId, update, riding);
    if (this.olderServer) return completeAttemptSteps(this, rolloutId, attemptId, update);
    try {
      return completedFrom(await this.call("completeAttempt", { rolloutId, attemptId, update, answer: "reward" }));
    } catch (e) {
      if (!isMissingEndpoint(e)) throw e;
      this.olderServer = true;
      return completeAttemptSteps(this, rolloutId, attemptId, update);
    }
  }

  private async completeWithSpans(
    rolloutId: string,
    attemptId: string,
    update: AttemptUpdate,
    riding: PendingSpan[],
  ): Promise<CompletedAttempt> {
    let got: CompletedOnWire & { spanResults: SpanResult[] };
    try {
      got = await this.call("completeAttempt", { rolloutId, attemptId, update, spans: riding.map((q) => q.span), answer: "reward" });
    } catch (e) {
      for (const q of riding) q.reject(e);
      throw e;
    }
    const bySeq = new Map((got.spans ?? []).map((s) => [s.sequenceId, s]));
    riding.forEach((q, i) => {
      const r = got.spanResults?.[i];
      if (r && "sequenceId" in r)
        q.resolve(bySeq.get(r.sequenceId) ?? ({ ...normalizeSpan(q.span, "addSpan"), sequenceId: r.sequenceId } as Span));
      else
        q.reject(
          r
            ? errorFromWire(r.status, { error: r.error })
            : new RemoteStoreError(200, "BadResponse", "store server did not say whether a span sent with completeAttempt was stored"),
        );
    });
    return completedFrom(got);
  }

  /** The server predates the runner endpoints (a runner upgraded before its store server): use the plain calls. */
  private olderServer = false;

  startAttempt(rolloutId: string, opts?: DequeueOptions): Promise<AttemptedRollout> {
    return this.call("startAttempt", { rolloutId, options: opts });
  }

  // -------------------------------------------------------------------------
  // state

  updateRollout(rolloutId: string, update: RolloutUpdate): Promise<Rollout> {
    return this.call("updateRollout", { rolloutId, update });
  }
  updateAttempt(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<Attempt> {
    return this.call("updateAttempt", { rolloutId, attemptId, update });
  }
  getRolloutById(rolloutId: string): Promise<Rollout | null> {
    return this.call("getRolloutById", { rolloutId });
  }
  getLatestAttempt(rolloutId: string): Promise<Attempt | null> {
    return this.call("getLatestAttempt", { rolloutId });
  }
  queryRollouts(query?: RolloutQuery): Promise<Rollout[]> {
    return this.call("queryRollouts", { query });
  }
  queryAttempts(rolloutId: string): Promise<Attempt[]> {
    return this.call("queryAttempts", { rolloutId });
  }

  /** The server holds each wait at most its maxWaitMs; this polls again until done or `timeoutMs` passes. */
  async waitForRollouts(rolloutIds: string[], opts?: WaitOptions): Promise<Rollout[]> {
    const t = isObj(opts) ? opts.timeoutMs : undefined;
    const deadline = typeof t === "number" && t >= 0 ? Date.now() + t : Infinity;
    const hold = this.describe().maxWaitMs;
    for (;;) {
      const options = deadline === Infinity ? opts : { ...opts, timeoutMs: Math.max(0, deadline - Date.now()) };
      const done = await this.call<Rollout[]>("waitForRollouts", { rolloutIds, options }, { timeoutMs: this.timeoutMs + hold });
      if (!Array.isArray(rolloutIds) || done.length >= rolloutIds.length || Date.now() >= deadline) return done;
    }
  }

  // -------------------------------------------------------------------------
  // spans

  /**
   * Spans added in the same turn of the event loop (a tracer ends several at
   * once) go out as one addSpans request. Each promise still resolves only
   * when the store has its span.
   */
  addSpan(span: SpanArg): Promise<Span> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    let onSettled!: (e: unknown) => void;
    const settled = new Promise<unknown>((r) => (onSettled = r));
    const p = new Promise<Span>((resolve, reject) => {
      const q: PendingSpan = {
        span,
        resolve: (s) => (this.unacked.delete(q), onSettled(null), resolve(s)),
        reject: (e) => (this.unacked.delete(q), onSettled(e), reject(e)),
        settled,
      };
      this.unacked.add(q);
      this.spanQueue.push(q);
      if (this.spanQueue.length === 1) setImmediate(() => void this.sendQueuedSpans());
    });
    return p;
  }

  /** Spans waiting for the next addSpans request (completeAttempt may take its attempt's instead). */
  private spanQueue: PendingSpan[] = [];
  /** Spans handed to addSpan and not yet stored or refused. */
  private readonly unacked = new Set<PendingSpan>();

  private async sendQueuedSpans(): Promise<void> {
    const batch = this.spanQueue;
    this.spanQueue = [];
    // completeAttempt took them all.
    if (!batch.length) return;
    const one = (q: (typeof batch)[number]) => this.call<Span>("addSpan", { span: q.span }).then(q.resolve, q.reject);
    if (batch.length === 1) return one(batch[0]);
    try {
      const stored = await this.addSpans(batch.map((q) => q.span));
      batch.forEach((q, i) => q.resolve(stored[i]));
    } catch (e) {
      // A batch is all or nothing: one malformed span must not cost the others, and its error must name it alone.
      if (e instanceof ValidationError) await Promise.all(batch.map(one));
      else for (const q of batch) q.reject(e);
    }
  }
  async addSpans(spans: SpanArg[]): Promise<Span[]> {
    const got = await this.call<Span[] | { sequenceIds: number[] }>("addSpans", { spans, compact: true });
    if (Array.isArray(got)) return got;
    // The server stored exactly what normalizeSpan makes of each input (a fresh copy), plus the sequence id it answered.
    return spans.map((s, i) => {
      const stored = normalizeSpan(s, `addSpans[${i}]`) as Span;
      stored.sequenceId = got.sequenceIds[i];
      return stored;
    });
  }
  async addOtelSpan(rolloutId: string, attemptId: string, otelSpan: unknown, sequenceId?: number): Promise<Span> {
    if (this.closed) throw new StoreClosedError();
    // Converted here: an SDK span's spanContext() is a function, which no wire carries.
    return this.addSpan(otelToSpanDraft(rolloutId, attemptId, otelSpan, sequenceId));
  }
  querySpans(query?: SpanQuery): Promise<Span[]> {
    return this.call("querySpans", { query });
  }
  async attemptReward(rolloutId: string, attemptId: string): Promise<number | null> {
    if (!this.olderServer)
      try {
        return await this.call("attemptReward", { rolloutId, attemptId });
      } catch (e) {
        if (!isMissingEndpoint(e)) throw e;
      }
    return rewardFromSpans(this, rolloutId, attemptId);
  }

  getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number> {
    return this.call("getNextSpanSequenceId", { rolloutId, attemptId });
  }

  // -------------------------------------------------------------------------
  // resources

  addResources(resources: NamedResources, resourcesId?: string): Promise<ResourcesUpdate> {
    const id = resourcesId ?? newId("rs");
    return this.call(
      "addResources",
      { resources, resourcesId: id },
      {
        onRetryError: async () => (resourcesId === undefined ? ((await this.getResourcesById(id)) ?? undefined) : undefined),
      },
    );
  }
  updateResources(resourcesId: string, resources: NamedResources): Promise<ResourcesUpdate> {
    return this.call("updateResources", { resourcesId, resources });
  }
  getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null> {
    return this.call("getResourcesById", { resourcesId });
  }
  getLatestResources(): Promise<ResourcesUpdate | null> {
    return this.call("getLatestResources", {});
  }
  queryResources(): Promise<ResourcesUpdate[]> {
    return this.call("queryResources", {});
  }

  // -------------------------------------------------------------------------
  // workers and housekeeping

  queryWorkers(): Promise<Worker[]> {
    return this.call("queryWorkers", {});
  }
  updateWorker(workerId: string, update: WorkerUpdate): Promise<Worker> {
    return this.call("updateWorker", { workerId, update });
  }
  async heartbeat(rolloutId: string, attemptId: string, workerId?: string): Promise<void> {
    await this.call("heartbeat", { rolloutId, attemptId, workerId });
  }
  /** One request where the server answers the latest attempt with the heartbeat, else two. */
  async heartbeatAttempt(rolloutId: string, attemptId: string, workerId?: string): Promise<Attempt | null> {
    if (!this.info?.features?.includes("heartbeat-latest")) return heartbeatSteps(this, rolloutId, attemptId, workerId);
    return this.call<Attempt | null>("heartbeat", { rolloutId, attemptId, workerId });
  }
  async checkDeadlines(now?: number): Promise<void> {
    await this.call("checkDeadlines", { now });
  }
  statistics(): Promise<StoreStatistics> {
    return this.call("statistics", {});
  }
  async refresh(): Promise<void> {
    await this.call("refresh", {});
  }
  async flush(): Promise<void> {
    await this.call("flush", {});
  }

  /** Stops this client (in-flight calls end with StoreClosedError); the server and its store keep running. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
  }
}

class WaitCancelled extends Error {}

/** completeAttempt's answer: servers before the reward answer send the attempt's spans instead. */
type CompletedOnWire = Omit<CompletedAttempt, "reward"> & { reward?: number | null; spans?: Span[] };

function completedFrom(got: CompletedOnWire): CompletedAttempt {
  const reward = got.reward !== undefined ? got.reward : finalReward(got.spans ?? []);
  return { attempt: got.attempt, rollout: got.rollout, reward };
}

const isMissingEndpoint = (e: unknown) => e instanceof RemoteStoreError && e.status === 404 && e.remoteName === "NoSuchEndpoint";

/** A rollout id chosen here when the caller left it out, so a retried enqueue can find its own rollout. */
function withRolloutId(req: EnqueueRolloutRequest): [EnqueueRolloutRequest, string | null] {
  if (!isObj(req) || req.rolloutId !== undefined) return [req, null];
  const id = newId("ro");
  return [{ ...req, rolloutId: id }, id];
}

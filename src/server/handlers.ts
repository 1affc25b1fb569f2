// What each endpoint does with its (envelope-checked) body: call the store
// with the arguments as given, so the store's own validation decides, plus the
// three things only a server needs: long-polls, span redaction, and dropping
// spans a retried batch already stored.

import type { LightningStore } from "../store/lightning-store.js";
import type { OperationBody, OperationName } from "../store/remote-protocol.js";
import { normalizeSpan, type SpanDraft } from "../store/span-input.js";
import { NotFoundError, ValidationError, type AttemptUpdate, type Span } from "../types/index.js";
import { AttemptUpdateSchema } from "../types/rollout.js";
import { parseOrThrow } from "../types/validate.js";
import {
  claimRolloutSteps,
  attemptReward,
  completeAttemptSteps,
  heartbeatSteps,
  spanFailureUpdate,
  type CompletedAttempt,
} from "../store/runner-steps.js";
import { errorToWire, type SpanResult } from "../store/remote-protocol.js";

/** Rewrites a span before it is stored; must return a span (validated again afterwards). */
export type Redact = (span: SpanDraft) => SpanDraft;

export interface HandlerContext {
  store: LightningStore;
  redact?: Redact;
  maxWaitMs: number;
  /** Aborted when the server starts closing: long-polls answer with what they have. */
  closing: AbortSignal;
}

export interface CallInfo {
  /** The client says this call may already have been applied (a retry after a connection loss). */
  retried: boolean;
  /** Aborted when the client hangs up before its answer is sent. */
  signal: AbortSignal;
}

type Handler<N extends OperationName> = (ctx: HandlerContext, body: OperationBody<N>, call: CallInfo) => Promise<unknown>;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
// Arguments go to the store as the client sent them: its validation is the contract.
const raw = <T>(v: unknown) => v as T;

export const handlers: { [N in OperationName]: Handler<N> } = {
  enqueueRollout: (c, b) => c.store.enqueueRollout(raw(b.request)),
  enqueueManyRollouts: (c, b) => c.store.enqueueManyRollouts(raw(b.requests)),
  startRollout: (c, b) => c.store.startRollout(raw(b.request), raw(b.options)),
  dequeueRollout: async (c, b, call) => {
    const got = await longPoll(c, call, b.waitMs ?? 0, async () => {
      const r = await c.store.dequeueRollout(raw(b.options));
      return r ? [r] : [];
    });
    return got[0] ?? null;
  },
  dequeueManyRollouts: (c, b, call) => longPoll(c, call, b.waitMs ?? 0, () => c.store.dequeueManyRollouts(raw(b.limit), raw(b.options))),
  startAttempt: (c, b) => c.store.startAttempt(raw(b.rolloutId), raw(b.options)),
  updateRollout: (c, b) => c.store.updateRollout(raw(b.rolloutId), raw(b.update)),
  updateAttempt: (c, b) => c.store.updateAttempt(raw(b.rolloutId), raw(b.attemptId), raw(b.update)),
  getRolloutById: (c, b) => c.store.getRolloutById(raw(b.rolloutId)),
  getLatestAttempt: (c, b) => c.store.getLatestAttempt(raw(b.rolloutId)),
  queryRollouts: (c, b) => c.store.queryRollouts(raw(b.query)),
  queryAttempts: (c, b) => c.store.queryAttempts(raw(b.rolloutId)),
  waitForRollouts: async (c, b, call) => {
    const o = b.options;
    // Cap one wait at maxWaitMs (the client polls again); malformed options go through for the store to reject.
    const capped =
      o === undefined
        ? { timeoutMs: c.maxWaitMs }
        : isObj(o) && o.timeoutMs === undefined
          ? { ...o, timeoutMs: c.maxWaitMs }
          : isObj(o) && typeof o.timeoutMs === "number" && o.timeoutMs >= 0
            ? { ...o, timeoutMs: Math.min(o.timeoutMs, c.maxWaitMs) }
            : o;
    const stop = anyAborted(c.closing, call.signal);
    const waiting = c.store.waitForRollouts(raw(b.rolloutIds), raw(capped));
    const cut = new Promise<"cut">((resolve) =>
      stop.aborted ? resolve("cut") : stop.addEventListener("abort", () => resolve("cut"), { once: true }),
    );
    const first = await Promise.race([waiting, cut]);
    return first === "cut" ? c.store.waitForRollouts(raw(b.rolloutIds), { timeoutMs: 0 }) : first;
  },
  addSpan: async (c, b, call) => (await addSpans(c, [b.span], call, "addSpan"))[0],
  addSpans: async (c, b, call) => {
    const spans = Array.isArray(b.spans) ? await addSpans(c, b.spans, call, "addSpans") : await c.store.addSpans(raw(b.spans));
    // Half the cost of a large batch is sending it back; a client that kept its input only needs the ids.
    return b.compact && !c.redact ? { sequenceIds: spans.map((s) => s.sequenceId) } : spans;
  },
  querySpans: (c, b) => c.store.querySpans(raw(b.query)),
  attemptReward: (c, b) => attemptReward(c.store, raw(b.rolloutId), raw(b.attemptId)),
  getNextSpanSequenceId: (c, b) => c.store.getNextSpanSequenceId(raw(b.rolloutId), raw(b.attemptId)),
  addResources: (c, b) =>
    b.resourcesId === undefined ? c.store.addResources(raw(b.resources)) : c.store.addResources(raw(b.resources), raw(b.resourcesId)),
  updateResources: (c, b) => c.store.updateResources(raw(b.resourcesId), raw(b.resources)),
  getResourcesById: (c, b) => c.store.getResourcesById(raw(b.resourcesId)),
  getLatestResources: (c) => c.store.getLatestResources(),
  queryResources: (c) => c.store.queryResources(),
  queryWorkers: (c) => c.store.queryWorkers(),
  updateWorker: (c, b) => c.store.updateWorker(raw(b.workerId), raw(b.update)),
  // Answers the rollout's latest attempt too (servers with the "heartbeat-latest" feature): a runner's watchdog needs no second request.
  heartbeat: (c, b) => heartbeatSteps(c.store, raw(b.rolloutId), raw(b.attemptId), raw(b.workerId)),
  checkDeadlines: (c, b) => (b.now === undefined ? c.store.checkDeadlines() : c.store.checkDeadlines(raw(b.now))),
  statistics: (c) => c.store.statistics(),
  refresh: async (c) => c.store.refresh?.(),
  flush: async (c) => c.store.flush?.(),
  claimRollout: async (c, b, call) => {
    // The steps run on the server's own store, never on its one-call version (which could be remote itself).
    const got = await longPoll(c, call, b.waitMs ?? 0, async () => {
      const r = await claimRolloutSteps(c.store, claimOptions(b.options));
      return r ? [r] : [];
    });
    return got[0] ?? null;
  },
  completeAttempt: async (c, b, call) => {
    let done: CompletedAttempt & { spanResults?: SpanResult[] };
    if (b.spans === undefined) done = await completeAttemptSteps(c.store, raw(b.rolloutId), raw(b.attemptId), raw(b.update));
    else if (!Array.isArray(b.spans)) throw new ValidationError("completeAttempt", ["spans: expected an array of spans"]);
    else done = await completeWithSpans(c, b.spans, raw(b.rolloutId), raw(b.attemptId), raw(b.update), call);
    if (b.answer === "reward") return done;
    // A client that predates the reward in the answer reads it from the attempt's spans.
    return { ...done, spans: await c.store.querySpans({ rolloutId: raw(b.rolloutId), attemptId: raw(b.attemptId) }) };
  },
};

/**
 * The spans a runner had not sent yet, then its final update: failed instead
 * when a span is refused (as the runner's own flush would have decided), so a
 * reader never sees a succeeded attempt with a span missing. One malformed
 * span does not cost the others. A retry after a lost answer stores no span
 * twice (addSpans drops what the attempt holds) and cannot apply the update
 * twice (a terminal attempt refuses it).
 */
async function completeWithSpans(
  c: HandlerContext,
  spans: unknown[],
  rolloutId: string,
  attemptId: string,
  update: AttemptUpdate,
  call: CallInfo,
): Promise<CompletedAttempt & { spanResults: SpanResult[] }> {
  // A malformed update is refused before any span is stored, so the answer never calls stored spans refused.
  parseOrThrow(AttemptUpdateSchema, update, "completeAttempt");
  const spanResults: SpanResult[] = [];
  let failure: unknown = null;
  const refused = (e: unknown): SpanResult => {
    // Anything but a client mistake (the store closing, a failed write) fails the request: the runner retries it whole.
    if (!(e instanceof ValidationError || e instanceof NotFoundError)) throw e;
    failure ??= e;
    const w = errorToWire(e);
    return { status: w.status, error: w.body.error };
  };
  if (spans.length) {
    try {
      for (const s of await addSpans(c, spans, call, "completeAttempt.spans")) spanResults.push({ sequenceId: s.sequenceId });
    } catch (e) {
      if (!(e instanceof ValidationError) || spans.length === 1) {
        const r = refused(e);
        for (let i = 0; i < spans.length; i++) spanResults.push(r);
      } else {
        for (let i = 0; i < spans.length; i++) {
          try {
            spanResults.push({ sequenceId: (await addSpans(c, [spans[i]], call, `completeAttempt.spans[${i}]`))[0].sequenceId });
          } catch (e1) {
            spanResults.push(refused(e1));
          }
        }
      }
    }
  }
  const final = failure && isObj(update) ? spanFailureUpdate(update, failure) : update;
  return { ...(await completeAttemptSteps(c.store, rolloutId, attemptId, final)), spanResults };
}

/**
 * Stores spans through the redaction hook. A retried batch (the client lost
 * the answer, perhaps to a server restart) skips spans the attempt already
 * holds, by span id, and answers with the stored copies.
 */
export async function addSpans(c: HandlerContext, spans: unknown[], call: Pick<CallInfo, "retried">, where: string): Promise<Span[]> {
  let drafts: unknown[] = spans;
  if (c.redact) {
    const redact = c.redact;
    drafts = spans.map((s, i) => redact(normalizeSpan(s, spans.length === 1 ? where : `${where}[${i}]`)));
  }
  if (!call.retried) return c.store.addSpans(raw(drafts));
  const stored = new Map<string, Span>();
  const attempts = new Set<string>();
  for (const s of drafts)
    if (isObj(s) && typeof s.rolloutId === "string" && typeof s.attemptId === "string")
      attempts.add(JSON.stringify([s.rolloutId, s.attemptId]));
  for (const a of attempts) {
    const [rolloutId, attemptId] = JSON.parse(a) as [string, string];
    const have = await c.store.querySpans({ rolloutId, attemptId }).catch(() => [] as Span[]);
    for (const sp of have) stored.set(`${rolloutId}\0${attemptId}\0${sp.spanId}`, sp);
  }
  const key = (s: unknown) => (isObj(s) ? `${String(s.rolloutId)}\0${String(s.attemptId)}\0${String(s.spanId)}` : "");
  const fresh = drafts.filter((s) => !stored.has(key(s)));
  const added = fresh.length ? await c.store.addSpans(raw(fresh)) : [];
  let i = 0;
  return drafts.map((s) => stored.get(key(s)) ?? added[i++]);
}

/**
 * Calls `take` until it returns something, the wait is over, the client hung
 * up or the server closes. A client that is gone is never handed a rollout.
 */
async function longPoll<T>(c: HandlerContext, call: CallInfo, waitMs: number, take: () => Promise<T[]>): Promise<T[]> {
  const deadline = Date.now() + Math.min(waitMs, c.maxWaitMs);
  let delay = 2;
  for (;;) {
    if (call.signal.aborted) return [];
    const got = await take();
    if (got.length > 0 || Date.now() >= deadline || c.closing.aborted) return got;
    await sleep(Math.min(delay, deadline - Date.now()), c.closing);
    delay = Math.min(delay * 2, 25);
  }
}

/** A claim names its worker: the attempt is set running on its behalf. */
function claimOptions(o: unknown): { workerId: string } {
  if (!isObj(o) || typeof o.workerId !== "string")
    throw new ValidationError("claimRollout", ["options.workerId: expected the runner's worker id (a string)"]);
  return o as { workerId: string };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function anyAborted(...signals: AbortSignal[]): AbortSignal {
  return AbortSignal.any(signals);
}

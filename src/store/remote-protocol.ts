// The store server's wire protocol, shared by the server (src/server) and the
// client (remote-store.ts): one path and one body schema per LightningStore
// operation, and how typed errors travel. Bodies carry the call's arguments by
// name; their contents are validated by the store itself (the same zod
// schemas a local call meets), so a remote call fails exactly like a local one.

import { z } from "zod";
import { InvalidTransitionError, NotFoundError, ReadOnlyStoreError, StoreClosedError, ValidationError } from "../types/index.js";

export const API_PREFIX = "/v1/agl";
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;
/** Client-chosen key that makes a retried write return the first result instead of applying again. */
export const IDEMPOTENCY_HEADER = "idempotency-key";
/** 0 on the first try; a retry of a write that may have been applied before a server restart says so. */
export const RETRY_HEADER = "x-agl-retry";

const any = z.unknown();
const opt = z.unknown().optional();

/** Every operation: its path under API_PREFIX, its body, whether it changes state, whether it may block. */
export const OPERATIONS = {
  enqueueRollout: { path: "/rollouts/enqueue", write: true, body: z.object({ request: any }), doc: "Queue one rollout." },
  enqueueManyRollouts: {
    path: "/rollouts/enqueue-many",
    write: true,
    body: z.object({ requests: z.array(any) }),
    doc: "Queue many rollouts in one call.",
  },
  startRollout: {
    path: "/rollouts/start",
    write: true,
    body: z.object({ request: any, options: opt }),
    doc: "Queue a rollout and start its first attempt.",
  },
  dequeueRollout: {
    path: "/rollouts/dequeue",
    write: true,
    body: z.object({ options: opt, waitMs: z.number().int().min(0).max(60_000).optional() }),
    doc: "Oldest queued rollout with a fresh attempt, or null. waitMs long-polls until one is queued.",
  },
  dequeueManyRollouts: {
    path: "/rollouts/dequeue-many",
    write: true,
    body: z.object({ limit: any, options: opt, waitMs: z.number().int().min(0).max(60_000).optional() }),
    doc: "Up to `limit` queued rollouts; waitMs long-polls until at least one is queued.",
  },
  startAttempt: {
    path: "/rollouts/start-attempt",
    write: true,
    body: z.object({ rolloutId: any, options: opt }),
    doc: "A new attempt on a queuing or requeuing rollout.",
  },
  updateRollout: {
    path: "/rollouts/update",
    write: true,
    body: z.object({ rolloutId: any, update: any }),
    doc: "Change a rollout's fields or status.",
  },
  updateAttempt: {
    path: "/attempts/update",
    write: true,
    body: z.object({ rolloutId: any, attemptId: any, update: any }),
    doc: 'Change an attempt; attemptId may be "latest".',
  },
  getRolloutById: { path: "/rollouts/get", write: false, body: z.object({ rolloutId: any }), doc: "One rollout or null." },
  getLatestAttempt: {
    path: "/attempts/latest",
    write: false,
    body: z.object({ rolloutId: any }),
    doc: "A rollout's newest attempt or null.",
  },
  queryRollouts: { path: "/rollouts/query", write: false, body: z.object({ query: opt }), doc: "Rollouts matching a filter." },
  queryAttempts: { path: "/attempts/query", write: false, body: z.object({ rolloutId: any }), doc: "Every attempt of a rollout." },
  waitForRollouts: {
    path: "/rollouts/wait",
    write: false,
    body: z.object({ rolloutIds: any, options: opt }),
    doc: "Long-poll: returns when every id is terminal or options.timeoutMs passes (the server caps one wait; clients poll again).",
  },
  addSpan: { path: "/spans/add", write: true, body: z.object({ span: any }), doc: "Store one span (sequenceId assigned when left out)." },
  addSpans: {
    path: "/spans/add-many",
    write: true,
    body: z.object({ spans: any, compact: z.boolean().optional() }),
    doc: "Store a batch of spans, all or nothing. compact: answer { sequenceIds } instead of the stored spans (unless the server redacts).",
  },
  querySpans: {
    path: "/spans/query",
    write: false,
    body: z.object({ query: opt }),
    doc: "Spans matching a filter, ordered by rollout, attempt, sequence id.",
  },
  attemptReward: {
    path: "/attempts/reward",
    write: false,
    body: z.object({ rolloutId: any, attemptId: any }),
    doc: "An attempt's reward (its last reward span's primary value) or null; attemptId may be \"latest\".",
  },
  getNextSpanSequenceId: {
    path: "/spans/next-sequence-id",
    write: true,
    body: z.object({ rolloutId: any, attemptId: any }),
    doc: "Reserve the next span sequence id of an attempt.",
  },
  addResources: {
    path: "/resources/add",
    write: true,
    body: z.object({ resources: any, resourcesId: opt }),
    doc: "Add a new resources id.",
  },
  updateResources: {
    path: "/resources/update",
    write: true,
    body: z.object({ resourcesId: any, resources: any }),
    doc: "Add a version of a resources id.",
  },
  getResourcesById: {
    path: "/resources/get",
    write: false,
    body: z.object({ resourcesId: any }),
    doc: "Latest version of a resources id, or null.",
  },
  getLatestResources: { path: "/resources/latest", write: false, body: z.object({}), doc: "The resources most recently added or updated." },
  queryResources: { path: "/resources/query", write: false, body: z.object({}), doc: "Every version of every resources id." },
  queryWorkers: { path: "/workers/query", write: false, body: z.object({}), doc: "Every worker the store has seen." },
  updateWorker: { path: "/workers/update", write: true, body: z.object({ workerId: any, update: any }), doc: "Report a worker's status." },
  heartbeat: {
    path: "/heartbeat",
    write: true,
    body: z.object({ rolloutId: any, attemptId: any, workerId: opt }),
    doc: "An attempt (and its worker) is alive. Answers the rollout's latest attempt (servers with the heartbeat-latest feature; earlier ones null).",
  },
  checkDeadlines: {
    path: "/check-deadlines",
    write: true,
    body: z.object({ now: opt }),
    doc: "Mark timed-out and unresponsive attempts now.",
  },
  statistics: { path: "/statistics", write: false, body: z.object({}), doc: "Counts of rollouts, attempts, spans, ..." },
  refresh: { path: "/refresh", write: false, body: z.object({}), doc: "Read-only durable stores: pick up what the writer made durable." },
  flush: { path: "/flush", write: false, body: z.object({}), doc: "Durable stores: fold logged spans into Parquet now." },
  claimRollout: {
    path: "/runner/claim",
    write: true,
    body: z.object({ options: opt, waitMs: z.number().int().min(0).max(60_000).optional() }),
    doc: "A runner's first call per rollout: dequeue (long-polling waitMs), set the attempt running, fetch its resources. Answers { rollout, resources, startError, resourcesError } or null.",
  },
  completeAttempt: {
    path: "/runner/complete",
    write: true,
    body: z.object({ rolloutId: any, attemptId: any, update: any, spans: opt, answer: z.literal("reward").optional() }),
    doc:
      "A runner's last call per rollout: store `spans` (the attempt's spans not yet sent; answered per span in spanResults), apply the attempt's final update " +
      "(failed instead when a span could not be stored; attempt null when the store ended it first), then answer the rollout and the attempt's reward " +
      '(and its spans, unless answer is "reward": earlier clients read the reward from them).',
  },
} as const satisfies Record<string, { path: string; write: boolean; body: z.ZodType; doc: string }>;

export type OperationName = keyof typeof OPERATIONS;
export type OperationBody<N extends OperationName> = z.infer<(typeof OPERATIONS)[N]["body"]>;

/** What GET /v1/agl/info answers: enough for a client to act like the store it fronts. */
export const StoreInfoSchema = z.object({
  kind: z.enum(["memory", "durable"]),
  readOnly: z.boolean(),
  defaults: z.object({
    timeoutSeconds: z.number().nullable(),
    unresponsiveSeconds: z.number().nullable(),
    maxAttempts: z.number().int(),
    retryConditions: z.array(z.string()),
  }),
  /** Longest single wait the server holds a long-poll open (ms). */
  maxWaitMs: z.number().int().positive(),
  version: z.string(),
  /** What this server does beyond the operations every version has ("complete-spans": completeAttempt takes spans; "heartbeat-latest": heartbeat answers the latest attempt). */
  features: z.array(z.string()).optional(),
});
export type StoreInfo = z.infer<typeof StoreInfoSchema>;

// ---------------------------------------------------------------------------
// errors on the wire

export const WireErrorSchema = z.object({
  error: z.object({
    name: z.string(),
    message: z.string(),
    where: z.string().optional(),
    issues: z.array(z.string()).optional(),
    kind: z.string().optional(),
    id: z.string().optional(),
    from: z.string().optional(),
    to: z.string().optional(),
  }),
});
export type WireError = z.infer<typeof WireErrorSchema>["error"];

/** completeAttempt's answer per span it was sent: the sequence id it was stored under, or why it was not. */
export type SpanResult = { sequenceId: number } | { status: number; error: WireError };

/** HTTP status and body for an error thrown by a store call (or the server around it). */
export function errorToWire(e: unknown): { status: number; body: { error: WireError } } {
  if (e instanceof ValidationError)
    return { status: 400, body: { error: { name: e.name, message: e.message, where: e.where, issues: e.issues } } };
  if (e instanceof NotFoundError) return { status: 404, body: { error: { name: e.name, message: e.message, kind: e.kind, id: e.id } } };
  if (e instanceof InvalidTransitionError)
    return { status: 409, body: { error: { name: e.name, message: e.message, kind: e.kind, id: e.id, from: e.from, to: e.to } } };
  if (e instanceof ReadOnlyStoreError) return { status: 409, body: { error: { name: e.name, message: e.message } } };
  // The store behind the server is closing: the request may succeed against the server that replaces it.
  if (e instanceof StoreClosedError) return { status: 503, body: { error: { name: e.name, message: "store server is shutting down" } } };
  const err = e as { statusCode?: unknown; name?: unknown; message?: unknown; code?: unknown };
  const sc = typeof err?.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  const message = typeof err?.message === "string" ? err.message : String(e);
  // Client mistakes fastify catches before a handler runs (bad JSON, wrong content type, too large) read like ours.
  if (sc === 400) return { status: 400, body: { error: { name: "ValidationError", message, where: "request body", issues: [message] } } };
  return {
    status: sc,
    body: {
      error: { name: typeof err?.name === "string" && sc < 500 ? err.name : sc === 503 ? "ServiceUnavailable" : "InternalError", message },
    },
  };
}

/** Raised by the client for errors that have no LightningStore class (5xx, auth, limits). */
export class RemoteStoreError extends Error {
  override readonly name = "RemoteStoreError";
  constructor(
    readonly status: number,
    readonly remoteName: string,
    message: string,
  ) {
    super(message);
  }
}

/** Rebuilds the error class the server-side store threw, so `instanceof` works across the wire. */
export function errorFromWire(status: number, body: unknown): Error {
  const p = WireErrorSchema.safeParse(body);
  if (!p.success)
    return new RemoteStoreError(
      status,
      "HTTPError",
      `store server answered HTTP ${status}${typeof body === "string" && body ? `: ${body.slice(0, 200)}` : ""}`,
    );
  const w = p.data.error;
  switch (w.name) {
    case "ValidationError":
      return new ValidationError(w.where ?? "store server", w.issues ?? [w.message]);
    case "NotFoundError":
      if (w.kind !== undefined && w.id !== undefined) return new NotFoundError(w.kind, w.id);
      break;
    case "InvalidTransitionError":
      if ((w.kind === "rollout" || w.kind === "attempt") && w.id !== undefined && w.from !== undefined && w.to !== undefined)
        return new InvalidTransitionError(w.kind, w.id, w.from, w.to);
      break;
    case "ReadOnlyStoreError": {
      const e = new ReadOnlyStoreError("write");
      e.message = w.message;
      return e;
    }
  }
  return new RemoteStoreError(status, w.name, `store server: ${w.message}`);
}

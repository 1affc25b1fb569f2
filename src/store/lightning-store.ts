import type {
  Attempt,
  AttemptedRollout,
  AttemptUpdate,
  EnqueueRolloutRequest,
  NamedResources,
  ResourcesUpdate,
  Rollout,
  RolloutConfig,
  RolloutStatus,
  RolloutUpdate,
  Span,
  SpanInput,
  SpanQuery,
  Worker,
  WorkerUpdate,
} from "../types/index.js";
import type { ClaimedRollout, CompletedAttempt } from "./runner-steps.js";

/** Filters for queryRollouts; all given fields must match. */
export interface RolloutQuery {
  status?: RolloutStatus | RolloutStatus[];
  ids?: string[];
  mode?: "train" | "val" | "test";
}

export interface StoreStatistics {
  rollouts: number;
  rolloutsByStatus: Record<string, number>;
  attempts: number;
  spans: number;
  resources: number;
  workers: number;
  /** Durable stores: bytes in the write-ahead log not yet folded into Parquet. */
  walBytes?: number;
  parquetFiles?: number;
  /** Durable stores: spans held in memory; the rest are read from Parquet parts when queried. */
  spansInMemory?: number;
  /** Durable stores: spans an earlier version acknowledged that could not be stored exactly, set aside in quarantine/ (never returned by queries). */
  quarantinedSpans?: number;
}

export interface WaitOptions {
  /** Stop waiting after this long; returns the rollouts finished so far. */
  timeoutMs?: number;
}

export interface DequeueOptions {
  workerId?: string;
}

/**
 * The LightningStore: the queue of rollouts, their attempts, the spans they
 * emit and the versioned resources, with Agent Lightning v0.3's operations.
 * Every method validates its input and throws ValidationError (store left
 * unchanged), NotFoundError or InvalidTransitionError.
 */
export interface LightningStore {
  readonly kind: "memory" | "durable";
  readonly readOnly: boolean;
  /** Default retry policy for rollouts that do not set their own. */
  readonly defaults: RolloutConfig;

  // queue
  enqueueRollout(req: EnqueueRolloutRequest): Promise<Rollout>;
  enqueueManyRollouts(reqs: EnqueueRolloutRequest[]): Promise<Rollout[]>;
  /** Enqueue and immediately start an attempt (a runner that was handed a task directly). */
  startRollout(req: EnqueueRolloutRequest, opts?: DequeueOptions): Promise<AttemptedRollout>;
  /** Oldest queuing or requeuing rollout, with a fresh attempt; null when none. Never hands a rollout out twice. */
  dequeueRollout(opts?: DequeueOptions): Promise<AttemptedRollout | null>;
  dequeueManyRollouts(limit: number, opts?: DequeueOptions): Promise<AttemptedRollout[]>;
  /** A new attempt on a rollout that is queuing or requeuing (manual retry). */
  startAttempt(rolloutId: string, opts?: DequeueOptions): Promise<AttemptedRollout>;

  // state
  updateRollout(rolloutId: string, update: RolloutUpdate): Promise<Rollout>;
  /** attemptId may be "latest". Terminal attempt statuses drive the rollout (succeed, requeue or fail). */
  updateAttempt(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<Attempt>;
  getRolloutById(rolloutId: string): Promise<Rollout | null>;
  getLatestAttempt(rolloutId: string): Promise<Attempt | null>;
  queryRollouts(query?: RolloutQuery): Promise<Rollout[]>;
  queryAttempts(rolloutId: string): Promise<Attempt[]>;
  /** Resolves when every id is terminal or the timeout passes; returns the terminal ones. */
  waitForRollouts(rolloutIds: string[], opts?: WaitOptions): Promise<Rollout[]>;

  // spans
  /** sequenceId is assigned by the store when omitted. Acknowledged = durable when the promise resolves. */
  addSpan(span: Omit<SpanInput, "sequenceId"> & { sequenceId?: number }): Promise<Span>;
  addSpans(spans: (Omit<SpanInput, "sequenceId"> & { sequenceId?: number })[]): Promise<Span[]>;
  /** Takes an OpenTelemetry SDK ReadableSpan (or its plain-object shape) for a rollout attempt. */
  addOtelSpan(rolloutId: string, attemptId: string, otelSpan: unknown, sequenceId?: number): Promise<Span>;
  querySpans(query?: SpanQuery): Promise<Span[]>;
  getNextSpanSequenceId(rolloutId: string, attemptId: string): Promise<number>;

  // resources
  addResources(resources: NamedResources, resourcesId?: string): Promise<ResourcesUpdate>;
  updateResources(resourcesId: string, resources: NamedResources): Promise<ResourcesUpdate>;
  getResourcesById(resourcesId: string): Promise<ResourcesUpdate | null>;
  getLatestResources(): Promise<ResourcesUpdate | null>;
  /** Every version of every resources id, oldest first. */
  queryResources(): Promise<ResourcesUpdate[]>;

  // workers
  queryWorkers(): Promise<Worker[]>;
  updateWorker(workerId: string, update: WorkerUpdate): Promise<Worker>;
  /** Records a heartbeat for an attempt (and its worker); revives an unresponsive attempt. */
  heartbeat(rolloutId: string, attemptId: string, workerId?: string): Promise<void>;

  /** Marks attempts past their timeout / heartbeat deadline and requeues or fails their rollouts. Runs on a timer too. */
  checkDeadlines(now?: number): Promise<void>;
  statistics(): Promise<StoreStatistics>;
  /** Read-only durable stores: reload what the writer has made durable since opening. No-op elsewhere. */
  refresh?(): Promise<void>;
  /** Durable stores: fold logged spans into Parquet and snapshot the state now. */
  flush?(): Promise<void>;
  /**
   * Optional one-call versions of the runner's steps (see runner-steps.ts, which
   * falls back to plain calls): a remote store sends each as one request.
   */
  claimRollout?(opts: DequeueOptions & { workerId: string }): Promise<ClaimedRollout | null>;
  completeAttempt?(rolloutId: string, attemptId: string, update: AttemptUpdate): Promise<CompletedAttempt>;
  /**
   * completeAttempt stores the attempt's spans not yet acknowledged first (sending them along
   * with it, or waiting for them), and fails the attempt when they cannot be stored: a runner
   * need not flush before it. Each span's own promise still resolves only once it is stored.
   */
  readonly completeStoresSpans?: boolean;
  /**
   * The attempt's reward (the primary value of its last reward span, as `finalReward` reads it from
   * its spans), from what the store noted when the spans came in; null when it has none. Optional:
   * runner-steps.ts reads the spans back on stores without it.
   */
  attemptReward?(rolloutId: string, attemptId: string): Promise<number | null>;
  /** heartbeat, then the rollout's latest attempt, in one call (runner-steps.ts has the plain-call version). */
  heartbeatAttempt?(rolloutId: string, attemptId: string, workerId?: string): Promise<Attempt | null>;
  /** Flushes and releases files and timers. Further calls throw StoreClosedError. */
  close(): Promise<void>;
}

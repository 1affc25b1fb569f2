// A runner: dequeue a rollout, run the agent inside its trace scope with a
// heartbeat, record the reward, finish the attempt. Agent errors become
// failed attempts; nothing an agent does crashes the runner.
import { randomUUID } from "node:crypto";
import type { Attempt, AttemptedRollout, LLMResource, NamedResources, Rollout } from "../types/index.js";
import { InvalidTransitionError, isAttemptTerminal } from "../types/index.js";
import type { LightningStore } from "../store/lightning-store.js";
import { attemptReward, claimRollout, completeAttempt, heartbeat, startAttemptSteps, type ClaimedRollout } from "../store/runner-steps.js";
import { emitException, emitReward, TraceScope, withScope, instrumentFrameworks, type RewardValue } from "../tracer/index.js";
import type { Agent, RolloutContext } from "./agent.js";
import type { Hooks } from "./hooks.js";

export interface RunnerOptions {
  store: LightningStore;
  agent: Agent<any>;
  workerId?: string;
  /** How often a running attempt reports it is alive. */
  heartbeatMs?: number;
  /** Wait between empty dequeues. */
  pollMs?: number;
  hooks?: Hooks;
  /** Called with errors the runner survived (hook failures, lost races with the store). */
  onError?: (e: unknown) => void;
}

export interface RunOutcome {
  rollout: Rollout | null;
  reward: number | null;
  error: unknown | null;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => (clearTimeout(t), resolve());
    // Removed when the timer fires: an idle runner polls for hours on the same signal.
    const t = setTimeout(() => (signal?.removeEventListener("abort", wake), resolve()), ms);
    signal?.addEventListener("abort", wake, { once: true });
  });

export class Runner {
  readonly workerId: string;
  private readonly store: LightningStore;
  private readonly agent: Agent<any>;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly hooks: Hooks;
  private readonly onError: (e: unknown) => void;

  constructor(opts: RunnerOptions) {
    if (!opts?.store) throw new TypeError("Runner: store is required");
    if (!opts.agent || typeof opts.agent.run !== "function") throw new TypeError("Runner: agent must come from agl.rollout(fn)");
    this.store = opts.store;
    this.agent = opts.agent;
    this.workerId = opts.workerId ?? `worker-${randomUUID().slice(0, 8)}`;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.pollMs = opts.pollMs ?? 10;
    this.hooks = opts.hooks ?? {};
    this.onError = opts.onError ?? ((e) => console.warn(`arclight runner ${this.workerId}: ${(e as Error)?.message ?? e}`));
  }

  /** Dequeues and runs rollouts until `signal` aborts (or `maxRollouts` ran); returns how many ran. */
  async iterate(opts: { signal?: AbortSignal; maxRollouts?: number } = {}): Promise<number> {
    await instrumentFrameworks();
    let n = 0;
    // One listener for the whole loop stops whichever rollout is running.
    let current: Cancel | null = null;
    const onStop = () => current?.abort(new Error("runner stopped"));
    opts.signal?.addEventListener("abort", onStop, { once: true });
    try {
      while (!opts.signal?.aborted && (opts.maxRollouts === undefined || n < opts.maxRollouts)) {
        // One call dequeues, starts the attempt and fetches resources (one round trip on a remote store).
        const next = await claimRollout(this.store, { workerId: this.workerId });
        if (!next) {
          await sleep(this.pollMs, opts.signal);
          continue;
        }
        current = new Cancel();
        await this.runClaimed(next, current);
        current = null;
        n++;
      }
    } finally {
      opts.signal?.removeEventListener("abort", onStop);
    }
    await this.safely(() => this.store.updateWorker(this.workerId, { status: "idle", currentRolloutId: null, currentAttemptId: null }));
    return n;
  }

  /** Runs one dequeued attempt to its end. Never throws for agent errors. */
  async runAttempt(ar: AttemptedRollout, stop?: AbortSignal): Promise<RunOutcome> {
    // A store that dequeued this attempt for this worker already marked the worker busy.
    const [, claimed] = await Promise.all([
      ar.attempt.workerId === this.workerId
        ? undefined
        : this.safely(() =>
            this.store.updateWorker(this.workerId, {
              status: "busy",
              currentRolloutId: ar.rolloutId,
              currentAttemptId: ar.attempt.attemptId,
            }),
          ),
      startAttemptSteps(this.store, ar, this.workerId),
    ]);
    const cancel = new Cancel();
    const onStop = () => cancel.abort(new Error("runner stopped"));
    stop?.addEventListener("abort", onStop, { once: true });
    try {
      return await this.runClaimed(claimed, cancel);
    } finally {
      stop?.removeEventListener("abort", onStop);
    }
  }

  private async runClaimed(claimed: ClaimedRollout, abort: Cancel): Promise<RunOutcome> {
    const ar = claimed.rollout;
    const { attempt } = ar;
    const rid = ar.rolloutId;
    const aid = attempt.attemptId;

    if (this.hooks.onRolloutStart) await this.safely(() => this.hooks.onRolloutStart?.(ar));
    const resources = claimed.resources?.resources ?? {};
    if (claimed.resourcesError)
      this.onError(
        Object.assign(
          new Error(`rollout ${rid}: resources could not be read, the agent runs with none: ${claimed.resourcesError.message}`),
          { name: claimed.resourcesError.name },
        ),
      );
    const ctx: RolloutContext = {
      rollout: stripAttempt(ar),
      attempt,
      resources,
      llm: llmFor(resources, rid, aid),
      store: this.store,
      workerId: this.workerId,
      // Made when the agent asks for it: most agents never do, and each AbortSignal costs ~10 us.
      get signal() {
        return abort.signal;
      },
    };
    const scope = new TraceScope(this.store, rid, aid, this.agent.name);

    // The heartbeat doubles as the watchdog: if the store ended this attempt (timeout), stop the agent.
    const beat = setInterval(() => {
      // One request on a remote store (the server answers the latest attempt with the heartbeat).
      void heartbeat(this.store, rid, aid, this.workerId)
        .then((a) => {
          if (a && (a.attemptId !== aid || isAttemptTerminal(a.status)))
            abort.abort(new Error(`attempt ${aid} ended by the store (${a.status})`));
        })
        .catch(() => {});
    }, this.heartbeatMs);
    beat.unref();

    let error: unknown = null;
    try {
      if (claimed.startError) throw Object.assign(new Error(claimed.startError.message), { name: claimed.startError.name });
      if (this.hooks.onTraceStart) await this.safely(() => this.hooks.onTraceStart?.(ctx));
      const result = await withScope(scope, () => abort.race(Promise.resolve().then(() => this.agent.run(ar.input, ctx))));
      if (result !== undefined && result !== null) withScope(scope, () => emitReward(result as RewardValue));
    } catch (e) {
      error = e;
      try {
        withScope(scope, () => emitException(e));
      } catch (inner) {
        this.onError(inner);
      }
    } finally {
      clearInterval(beat);
    }
    if (this.hooks.onTraceEnd) await this.safely(() => this.hooks.onTraceEnd?.(ctx, { error }));

    // Spans must be acknowledged before the attempt is called finished, so a reader never sees a
    // succeeded rollout with missing spans. A store whose completeAttempt sees to that itself (a remote
    // one sends them along) is not flushed first: one round trip less per rollout.
    const completeStoresSpans = this.store.completeStoresSpans === true && typeof this.store.completeAttempt === "function";
    if (!completeStoresSpans) {
      try {
        await scope.flush();
      } catch (e) {
        error ??= e;
      }
    }
    const { rollout, reward, attempt: ended } = await this.finishAttempt(rid, aid, error);
    if (completeStoresSpans) {
      try {
        await scope.flush();
      } catch (e) {
        // The store already failed the attempt for it; the outcome says why.
        error ??= e;
      }
      // A span the agent wrote itself was refused: the store failed the attempt, and says why.
      if (!error && ended?.status === "failed")
        error = new Error(`the store failed attempt ${aid}: ${String(ended.metadata?.error ?? "a span could not be stored")}`);
    }
    if (this.hooks.onRolloutEnd) await this.safely(() => this.hooks.onRolloutEnd?.(rollout, { error, reward }));
    return { rollout, reward, error };
  }

  /**
   * Final update, then the rollout and its reward (one call on a remote store). The
   * update releases the worker; when the store ended the attempt first (timeout,
   * unresponsive: its verdict stands) or the update failed, the worker is released here.
   */
  private async finishAttempt(
    rid: string,
    aid: string,
    error: unknown,
  ): Promise<{ rollout: Rollout | null; reward: number | null; attempt?: Attempt | null }> {
    const metadata = error ? { error: errorMessage(error) } : undefined;
    const update = { status: error ? "failed" : "succeeded", endTime: Date.now(), ...(metadata ? { metadata } : {}) } as const;
    const idle = () =>
      this.safely(() => this.store.updateWorker(this.workerId, { status: "idle", currentRolloutId: null, currentAttemptId: null }));
    try {
      const done = await completeAttempt(this.store, rid, aid, update);
      if (!done.attempt) await idle();
      return { rollout: done.rollout, reward: done.reward, attempt: done.attempt };
    } catch (e) {
      if (!(e instanceof InvalidTransitionError)) this.onError(e);
      const [rollout, reward] = await Promise.all([
        this.store.getRolloutById(rid).catch(() => null),
        attemptReward(this.store, rid, aid).catch((e: unknown) => (this.onError(e), null)),
        idle(),
      ]);
      return { rollout, reward };
    }
  }

  private async safely(fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.onError(e);
    }
  }
}

/** The first LLM resource; an Arclight proxy's endpoint becomes this attempt's own base URL so its calls are attributed. */
function llmFor(resources: NamedResources, rid: string, aid: string): LLMResource | null {
  const llm = Object.values(resources).find((r) => r.resourceType === "llm") as LLMResource | undefined;
  if (!llm) return null;
  if (!llm.proxy) return llm;
  const endpoint = llm.endpoint.replace(/\/v1\/?$/, `/rollout/${encodeURIComponent(rid)}/attempt/${encodeURIComponent(aid)}/v1`);
  return { ...llm, endpoint };
}

function stripAttempt(ar: AttemptedRollout): Rollout {
  const { attempt: _a, ...rollout } = ar;
  return rollout;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Stops a running agent: its race rejects with the reason, and the AbortSignal the agent
 * sees (made only if it asks for one) aborts.
 */
class Cancel {
  private controller: AbortController | null = null;
  private aborted = false;
  private reason: unknown;
  private reject: ((reason: unknown) => void) | null = null;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.reject?.(reason);
  }

  /** `p`, or the abort's reason once aborted, whichever comes first. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      this.reject = reject;
      p.then(resolve, reject);
    });
  }
}

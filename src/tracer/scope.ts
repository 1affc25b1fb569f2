// Which rollout attempt a span belongs to travels in the OpenTelemetry
// context (AsyncLocalStorage underneath), so concurrent rollouts in one
// process never mix spans: each awaits inside its own context.
import { context, createContextKey, type Context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { LightningStore } from "../store/lightning-store.js";
import type { Span } from "../types/index.js";

/** The rollout attempt that spans are recorded into, and the writes still in flight. */
export class TraceScope {
  private readonly pending = new Set<Promise<unknown>>();
  private firstError: unknown = null;
  constructor(
    readonly store: LightningStore,
    readonly rolloutId: string,
    readonly attemptId: string,
    /** Name of the agent whose spans these are (multi-agent systems train only some). */
    readonly agentName: string | null = null,
  ) {}

  /** Tracks a store write so `flush()` can wait until the store acknowledged it. */
  track(p: Promise<Span>): void {
    // One then, no finally: a finally chain costs three more promises per span (issue 14).
    const q: Promise<void> = p.then(
      () => void this.pending.delete(q),
      (e) => {
        this.firstError ??= e;
        this.pending.delete(q);
      },
    );
    this.pending.add(q);
  }

  /** Resolves when every span recorded so far is acknowledged; rethrows the first write error. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.firstError) {
      const e = this.firstError;
      this.firstError = null;
      throw e;
    }
  }
}

const SCOPE_KEY = createContextKey("arclight.trace-scope");

let contextManagerReady = false;
/** Context propagation needs a context manager; install AsyncLocalStorage unless the app already set one. */
export function ensureContextManager(): void {
  if (contextManagerReady) return;
  contextManagerReady = true;
  // setGlobalContextManager returns false when another one is registered; that one works as well.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

export function scopeOf(ctx: Context): TraceScope | undefined {
  return ctx.getValue(SCOPE_KEY) as TraceScope | undefined;
}

let onScope: (() => void) | null = null;
/** provider.ts registers here what must be ready before a rollout's spans start (the global provider). */
export function onFirstScope(hook: () => void): void {
  onScope = hook;
}

/** Runs fn with `scope` as the current rollout attempt for every span started inside it. */
export function withScope<T>(scope: TraceScope, fn: () => T): T {
  ensureContextManager();
  if (onScope) {
    const h = onScope;
    onScope = null;
    h();
  }
  return context.with(context.active().setValue(SCOPE_KEY, scope), fn);
}

export function activeScope(): TraceScope | undefined {
  return scopeOf(context.active());
}

// Arclight's own TracerProvider: spans go straight into the LightningStore of
// the rollout attempt they were started under (or the dev store outside one).
// It is private, so an application's global OpenTelemetry setup is untouched.
import { createContextKey, context, trace, type Context, type Tracer } from "@opentelemetry/api";
import { BasicTracerProvider, type ReadableSpan, type Span as SdkSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { AGL } from "../types/index.js";
import { ensureContextManager, scopeOf, TraceScope } from "./scope.js";
import { devScope } from "./dev.js";

const AGENT_KEY = createContextKey("arclight.agent-name");

class StoreSpanProcessor implements SpanProcessor {
  private readonly scopes = new WeakMap<object, TraceScope>();

  onStart(span: SdkSpan, parentContext: Context): void {
    const scope = scopeOf(parentContext);
    if (scope) this.scopes.set(span, scope);
    const agent = (parentContext.getValue(AGENT_KEY) as string | undefined) ?? scope?.agentName ?? undefined;
    if (agent && span.attributes[AGL.attrs.agentName] === undefined) span.setAttribute(AGL.attrs.agentName, agent);
  }

  onEnd(span: ReadableSpan): void {
    const scope = this.scopes.get(span);
    if (scope) {
      scope.track(scope.store.addOtelSpan(scope.rolloutId, scope.attemptId, span));
      return;
    }
    devScope().record(span);
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

let provider: BasicTracerProvider | null = null;

export function arclightTracer(): Tracer {
  ensureContextManager();
  provider ??= new BasicTracerProvider({ spanProcessors: [new StoreSpanProcessor()] });
  return provider.getTracer("arclight", "0.1.0");
}

/** Runs fn with spans attributed to agent `name` (the adapter can train only selected agents). */
export function withAgent<T>(name: string, fn: () => T): T {
  if (typeof name !== "string" || !name) throw new TypeError("withAgent(name, fn): name must be a non-empty string");
  ensureContextManager();
  return context.with(context.active().setValue(AGENT_KEY, name), fn);
}

/** The active span, if any (for users who want to add attributes). */
export function currentSpan() {
  return trace.getSpan(context.active());
}

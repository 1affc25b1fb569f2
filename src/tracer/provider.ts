// Arclight's own TracerProvider: spans go straight into the LightningStore of
// the rollout attempt they were started under (or the dev store outside one).
// It is private, so an application's global OpenTelemetry setup is untouched.
// When the application has none, a second provider becomes the global one at
// the first rollout, so libraries that trace through the OpenTelemetry API
// (the Vercel AI SDK's experimental_telemetry, OpenInference or OpenLLMetry
// instrumentations) record into the rollout their call runs in; it samples
// only spans started inside a rollout, so elsewhere the API stays a no-op.
import { createContextKey, context, trace, type Attributes, type Context, type Link, type SpanKind, type Tracer } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  SamplingDecision,
  type ReadableSpan,
  type Sampler,
  type SamplingResult,
  type Span as SdkSpan,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { AGL, GEN_AI } from "../types/index.js";
import { ensureContextManager, onFirstScope, scopeOf, type TraceScope } from "./scope.js";
import { devScope } from "./dev.js";

const AGENT_KEY = createContextKey("arclight.agent-name");

class StoreSpanProcessor implements SpanProcessor {
  private readonly scopes = new WeakMap<object, TraceScope>();
  /** Spans outside any rollout go to the dev store (Arclight's own helpers) or nowhere (the global provider). */
  constructor(private readonly devFallback = true) {}

  onStart(span: SdkSpan, parentContext: Context): void {
    const scope = scopeOf(parentContext);
    if (scope) this.scopes.set(span, scope);
    if (span.attributes[AGL.attrs.agentName] !== undefined) return;
    // Nearest agent first: the framework agent the span is (gen_ai.agent.name on an Agents SDK agent span),
    // withAgent's, the one its parent span was attributed to (calls inside a framework agent), the rollout's.
    const own = span.attributes[GEN_AI.agentName];
    const parentAgent = (trace.getSpan(parentContext) as { attributes?: Attributes } | undefined)?.attributes?.[AGL.attrs.agentName];
    const agent =
      (typeof own === "string" && own) ||
      (parentContext.getValue(AGENT_KEY) as string | undefined) ||
      (typeof parentAgent === "string" && parentAgent) ||
      scope?.agentName;
    if (agent) span.setAttribute(AGL.attrs.agentName, agent);
  }

  onEnd(span: ReadableSpan): void {
    const scope = this.scopes.get(span);
    if (scope) {
      scope.track(scope.store.addOtelSpan(scope.rolloutId, scope.attemptId, span));
      return;
    }
    if (this.devFallback) devScope().record(span);
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

/** Samples exactly the spans started inside a rollout attempt. */
class InRolloutSampler implements Sampler {
  shouldSample(ctx: Context, _traceId: string, _name: string, _kind: SpanKind, _attrs: Attributes, _links: Link[]): SamplingResult {
    return { decision: scopeOf(ctx) ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString(): string {
    return "ArclightInRolloutSampler";
  }
}

let globalState: "unset" | "ours" | "theirs" | "off" = "unset";

/**
 * Makes Arclight's rollout-routing provider the global OpenTelemetry provider unless the application
 * registered one (then that one stays, and `globalTracing()` says "theirs"). Runs at the first rollout;
 * `useGlobalTracing(false)` before it keeps the global provider untouched.
 */
export function installGlobalTracing(): "ours" | "theirs" | "off" {
  if (globalState !== "unset") return globalState;
  ensureContextManager();
  // The API refuses a second registration (returns false), so an application's provider always wins.
  const provider = new BasicTracerProvider({ sampler: new InRolloutSampler(), spanProcessors: [new StoreSpanProcessor(false)] });
  globalState = trace.setGlobalTracerProvider(provider) ? "ours" : "theirs";
  return globalState;
}

/** false: never register a global provider (call before the first rollout); true: register at the first one. */
export function useGlobalTracing(enabled: boolean): void {
  if (globalState === "ours" || globalState === "theirs") return;
  globalState = enabled ? "unset" : "off";
  if (enabled) onFirstScope(installGlobalTracing);
}

/** Whose global OpenTelemetry provider is in force: Arclight's, the application's, none yet, or opted out. */
export function globalTracing(): "unset" | "ours" | "theirs" | "off" {
  return globalState;
}

onFirstScope(installGlobalTracing);

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

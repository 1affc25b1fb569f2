// The OpenAI Agents SDK's traces as OpenTelemetry spans in the rollout's
// trace: a TracingProcessor turns the SDK's trace and spans (agent, function,
// handoff, guardrail, turn, ...) into spans with the SDK's parent links and
// GenAI names (invoke_agent with gen_ai.agent.name, so the adapter's
// agentMatch selects an agent's calls; execute_tool). Generation and response
// spans are model steps (framework-calls.ts): the instrumented openai client's
// span takes their place when it made the call, found exactly through the
// SDK's current span; otherwise they become LLM-call spans themselves.
//
// Registration: instrumentOpenAIAgents() adds the processor to the SDK's
// global trace provider next to the SDK's own exporter (not replacing it: the
// application's tracing choices stay), and it records only spans that start
// inside a rollout. It imports nothing of the SDK (a second of loading for
// every runner, most of whose agents never use it): the SDK keeps its
// provider and its span context on globalThis under Symbol.for keys, so the
// processor joins the provider when the SDK creates it, whenever the agent
// first loads it. The SDK's own switch (OPENAI_AGENTS_DISABLE_TRACING,
// NODE_ENV=test, a run's tracingDisabled) turns its spans off, and so these.
import { context, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";
import type { Span as AgentsSpan, Trace, TracingProcessor } from "@openai/agents";
import { GEN_AI } from "../types/index.js";
import { toAttributeValue } from "./attributes.js";
import { toJsonText } from "../types/json.js";
import {
  addModelStepFinder,
  endModelStep,
  endWithError,
  startFrameworkSpan,
  type ModelCallReport,
  type ModelStep,
} from "./framework-calls.js";
import { scopeOf } from "./scope.js";

/** Attribute names for the SDK's own ids and data (no semconv covers them). */
export const OPENAI_AGENTS = {
  spanType: "openai_agents.span.type",
  spanId: "openai_agents.span_id",
  traceId: "openai_agents.trace_id",
  groupId: "openai_agents.group_id",
  /** Prefix of the span data fields kept as they are (openai_agents.data.<field>). */
  data: "openai_agents.data.",
} as const;

type AnySpan = AgentsSpan<any>;
type Data = Record<string, unknown> & { type: string };

interface Entry {
  /** The context a child span starts in. */
  ctx: Context;
  span: Span | null;
  step: ModelStep | null;
}

const traces = new Map<string, { ctx: Context; span: Span }>();
const spans = new Map<string, Entry>();

function time(iso: string | null | undefined): number | undefined {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

function parentOf(s: AnySpan): Context | null {
  const ctx = (s.parentId && spans.get(s.parentId)?.ctx) || traces.get(s.traceId)?.ctx || context.active();
  return scopeOf(ctx) ? ctx : null;
}

function isModelStep(d: Data): boolean {
  return d.type === "generation" || d.type === "response";
}

/** Span name and start attributes of a non-model span, by its data type. */
function describe(s: AnySpan, d: Data): { name: string; attributes: Attributes } {
  const a: Attributes = { [OPENAI_AGENTS.spanType]: d.type, [OPENAI_AGENTS.spanId]: s.spanId, [OPENAI_AGENTS.traceId]: s.traceId };
  switch (d.type) {
    case "agent":
      a[GEN_AI.operationName] = "invoke_agent";
      a[GEN_AI.agentName] = String(d.name);
      return { name: `invoke_agent ${d.name}`, attributes: a };
    case "function":
      a[GEN_AI.operationName] = "execute_tool";
      a[GEN_AI.toolName] = String(d.name);
      return { name: `execute_tool ${d.name}`, attributes: a };
    case "handoff":
    case "guardrail":
    case "custom":
    case "task":
      return { name: `${d.type} ${d.name ?? ""}`.trim(), attributes: a };
    case "turn":
      return { name: `turn ${d.turn ?? ""}`.trim(), attributes: a };
    default:
      return { name: `openai_agents.${d.type}`, attributes: a };
  }
}

/**
 * End attributes from the span's data as the SDK filled it in. Usage on turn and task spans stays under
 * openai_agents.data.*: a gen_ai.usage.* key would make them LLM calls (semconv's isLlmCall).
 */
function finish(d: Data): Attributes {
  const a: Attributes = {};
  for (const [k, v] of Object.entries(d))
    if (k !== "type" && v !== undefined && v !== null) a[OPENAI_AGENTS.data + k] = toAttributeValue(v);
  if (d.type === "function") {
    if (d.input !== undefined) a[GEN_AI.toolCallArguments] = toAttributeValue(d.input);
    if (d.output !== undefined) a[GEN_AI.toolCallResult] = toAttributeValue(d.output);
  }
  return a;
}

function entryFor(s: AnySpan): Entry | undefined {
  const known = spans.get(s.spanId);
  if (known) return known;
  const d = s.spanData as Data;
  const parent = parentOf(s);
  if (!parent) return undefined;
  let e: Entry;
  if (isModelStep(d)) {
    const attributes: Attributes = {
      [OPENAI_AGENTS.spanType]: d.type,
      [OPENAI_AGENTS.spanId]: s.spanId,
      [OPENAI_AGENTS.traceId]: s.traceId,
    };
    e = { ctx: parent, span: null, step: { parent, attributes, calls: 0, proxySpan: null, startTime: time(s.startedAt) ?? Date.now() } };
  } else {
    const { name, attributes } = describe(s, d);
    const span = startFrameworkSpan(name, attributes, parent, time(s.startedAt));
    e = { ctx: trace.setSpan(parent, span), span, step: null };
  }
  spans.set(s.spanId, e);
  return e;
}

/** A generation's or response's data as a model-call report (chat completions or Responses API). */
function report(d: Data): ModelCallReport {
  const usage = (d.usage ?? (d._response as Record<string, unknown> | undefined)?.usage) as
    | { input_tokens?: number; output_tokens?: number }
    | undefined;
  const config = (d.model_config ?? {}) as Record<string, unknown>;
  const res = d._response as { id?: string; model?: string; output?: unknown } | undefined;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    operation: "chat",
    provider: "openai",
    model: (d.model as string | undefined) ?? res?.model ?? null,
    temperature: num(config.temperature),
    topP: num(config.topP ?? config.top_p),
    maxTokens: num(config.maxTokens ?? config.max_tokens),
    input: d.input ?? d._input,
    output: d.output ?? res?.output,
    inputTokens: num(usage?.input_tokens),
    outputTokens: num(usage?.output_tokens),
    responseId: (d.response_id as string | undefined) ?? res?.id ?? null,
  };
}

class ArclightTracingProcessor implements TracingProcessor {
  async onTraceStart(t: Trace): Promise<void> {
    const parent = context.active();
    if (!scopeOf(parent) || traces.has(t.traceId)) return;
    const a: Attributes = { [OPENAI_AGENTS.spanType]: "trace", [OPENAI_AGENTS.traceId]: t.traceId };
    if (t.groupId) a[OPENAI_AGENTS.groupId] = t.groupId;
    if (t.metadata) a[`${OPENAI_AGENTS.data}metadata`] = toJsonText(t.metadata);
    const span = startFrameworkSpan(t.name || "Agent workflow", a, parent);
    traces.set(t.traceId, { ctx: trace.setSpan(parent, span), span });
  }

  async onTraceEnd(t: Trace): Promise<void> {
    traces.get(t.traceId)?.span.end();
    traces.delete(t.traceId);
  }

  async onSpanStart(s: AnySpan): Promise<void> {
    entryFor(s);
  }

  async onSpanEnd(s: AnySpan): Promise<void> {
    const e = spans.get(s.spanId);
    if (!e) return;
    spans.delete(s.spanId);
    const d = s.spanData as Data;
    const end = time(s.endedAt);
    if (e.step) return endModelStep(e.step, report(d), s.error ? s.error.message : undefined, end);
    const span = e.span;
    if (!span) return;
    span.setAttributes(finish(d));
    if (s.error) endWithError(span, s.error.message, end);
    else span.end(end);
  }

  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

const PROVIDER_KEY = Symbol.for("openai.agents.core.traceProvider");
const CONTEXT_KEY = Symbol.for("openai.agents.core.asyncLocalStorage");

/** The SDK's current span (its getCurrentSpan(), read from the SDK's shared AsyncLocalStorage). */
function currentSdkSpan(): AnySpan | null {
  const als = (globalThis as { [CONTEXT_KEY]?: { getStore?: () => { active?: boolean; span?: AnySpan } | undefined } })[CONTEXT_KEY];
  const store = als?.getStore?.();
  return store?.active === true ? (store.span ?? null) : null;
}

// The client call runs inside the SDK's generation or response span, which the SDK keeps current.
addModelStepFinder((active) => {
  if (!scopeOf(active)) return undefined;
  const cur = currentSdkSpan();
  if (!cur || !isModelStep(cur.spanData as Data)) return undefined;
  return entryFor(cur)?.step ?? undefined;
});

const REGISTERED = Symbol.for("arclight.openai-agents.processor");

interface ProviderLike {
  registerProcessor(p: TracingProcessor): void;
  setProcessors(ps: TracingProcessor[]): void;
}

/**
 * Adds the processor, and keeps it through setTraceProcessors(): the SDK itself installs its OpenAI exporter
 * that way right after creating the provider, and an application choosing its exporters has not asked to
 * stop Arclight's local record of its rollouts.
 */
function join(provider: unknown, processor: TracingProcessor): void {
  const p = provider as ProviderLike | null;
  if (!p || typeof p.registerProcessor !== "function" || typeof p.setProcessors !== "function") return;
  const set = p.setProcessors.bind(p);
  p.setProcessors = (ps: TracingProcessor[]) => set(ps.includes(processor) ? ps : [...ps, processor]);
  p.registerProcessor(processor);
}

/**
 * Records the Agents SDK's traces made inside a rollout into the rollout's trace, whether the SDK is loaded
 * already or later. Idempotent. Resolves to false when another party fixed the provider slot unchangeably.
 */
export function instrumentOpenAIAgents(): boolean {
  const g = globalThis as Record<symbol, unknown>;
  if (g[REGISTERED]) return true;
  const processor = new ArclightTracingProcessor();
  const existing = g[PROVIDER_KEY];
  if (existing) {
    join(existing, processor);
    g[REGISTERED] = true;
    return true;
  }
  const d = Object.getOwnPropertyDescriptor(g, PROVIDER_KEY);
  if (d && !d.configurable) return false;
  // The SDK assigns its provider to this slot (getGlobalTraceProvider); a setter joins it then and steps aside.
  Object.defineProperty(g, PROVIDER_KEY, {
    configurable: true,
    enumerable: false,
    get: () => undefined,
    set(provider: unknown) {
      Object.defineProperty(g, PROVIDER_KEY, { value: provider, writable: true, configurable: true });
      join(provider, processor);
    },
  });
  g[REGISTERED] = true;
  return true;
}

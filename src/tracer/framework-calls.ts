// A framework's model step (a LangChain chat-model run, an Agents SDK
// generation) and the client span that records the same model call. One call
// is one LLM-call span: when the step reaches the model through the
// instrumented `openai` client, that client's span (which holds the token ids
// training needs) takes the step's place in the framework's tree and carries
// its identity; a step no client span claimed becomes an LLM-call span of its
// own when it ends, from what the framework reported. So frames.llmCalls,
// rolloutSummary and the adapter, which all ask semconv's isLlmCall, count
// each call once.
import { SpanStatusCode, type Attributes, type Context, type Span, type TimeInput } from "@opentelemetry/api";
import { CALL_RECORD, GEN_AI } from "../types/index.js";
import { toJsonText } from "../types/json.js";
import { arclightTracer } from "./provider.js";

export interface ModelStep {
  /** Context the call span starts in: the step's parent span in the framework's tree, and the rollout scope. */
  readonly parent: Context;
  /** The framework's identity of the step (langchain.*, openai_agents.*), copied onto the call span. */
  readonly attributes: Attributes;
  readonly startTime: number;
  /** Client call spans recorded for this step (retries make more than one). */
  calls: number;
  /**
   * The step's own span, opened early when its request went to Arclight's proxy through a client Arclight
   * does not instrument: the proxy records the call below it (traceparent), so it is marked as the call's view.
   */
  proxySpan: Span | null;
}

/** Looks up the framework step a client call made in `active` belongs to. */
export type ModelStepFinder = (active: Context) => ModelStep | undefined;

const finders = new Set<ModelStepFinder>();

export function addModelStepFinder(f: ModelStepFinder): void {
  finders.add(f);
}

/** Looks up the framework span a call made in `active` runs under (a LangChain tool or chain), as a context. */
export type ParentFinder = (active: Context) => Context | undefined;

const parentFinders = new Set<ParentFinder>();

export function addParentFinder(f: ParentFinder): void {
  parentFinders.add(f);
}

/**
 * The context a client span made in `active` starts in: a framework's span it runs under when the framework
 * keeps its own run context (LangChain runs a tool or lambda inside its config), else `active`.
 */
export function frameworkParent(active: Context): Context {
  for (const f of parentFinders) {
    const ctx = f(active);
    if (ctx) return ctx;
  }
  return active;
}

/** The framework step a call made in `active` belongs to; undefined outside every framework step. */
export function findModelStep(active: Context): ModelStep | undefined {
  for (const f of finders) {
    const step = f(active);
    if (step) return step;
  }
  return undefined;
}

/** The framework step this client call records, counted as claimed. */
export function claimModelStep(active: Context): ModelStep | undefined {
  const step = findModelStep(active);
  if (step) step.calls++;
  return step;
}

/** The span a request to the proxy from inside the step nests under (opened on first use). */
export function proxyParentOf(step: ModelStep): Span {
  step.proxySpan ??= startFrameworkSpan("model call", { ...step.attributes, [CALL_RECORD]: "child" }, step.parent, step.startTime);
  return step.proxySpan;
}

/**
 * Ends a framework's model step: nothing when a client span recorded the call; otherwise its own span (the
 * one opened for the proxy, or a new one) with what the framework reported.
 */
export function endModelStep(step: ModelStep, r: ModelCallReport, error?: unknown, endTime?: TimeInput): void {
  if (step.calls > 0) return;
  const name = `${r.operation} ${r.model ?? "unknown"}`;
  const span = step.proxySpan ?? startFrameworkSpan(name, step.attributes, step.parent, step.startTime);
  span.updateName(name);
  span.setAttributes(modelCallAttributes(r));
  if (error !== undefined) endWithError(span, error, endTime);
  else span.end(endTime);
}

/** What a framework reports about a model call no client span recorded. */
export interface ModelCallReport {
  operation: "chat" | "text_completion";
  provider?: string | null;
  model?: string | null;
  temperature?: number | null;
  topP?: number | null;
  maxTokens?: number | null;
  input?: unknown;
  output?: unknown;
  inputTokens?: number | null;
  outputTokens?: number | null;
  responseId?: string | null;
  finishReasons?: string[] | null;
}

/** GenAI attributes of a framework-reported model call: the names Arclight's proxy and openai spans use. */
export function modelCallAttributes(r: ModelCallReport): Attributes {
  const a: Attributes = { [GEN_AI.operationName]: r.operation };
  const put = (k: string, v: unknown) => {
    if (typeof v === "string" ? v !== "" : typeof v === "number" ? Number.isFinite(v) : false) a[k] = v as string | number;
  };
  put(GEN_AI.providerName, r.provider);
  put(GEN_AI.requestModel, r.model);
  put(GEN_AI.requestTemperature, r.temperature);
  put(GEN_AI.requestTopP, r.topP);
  put(GEN_AI.requestMaxTokens, r.maxTokens);
  put(GEN_AI.usageInputTokens, r.inputTokens);
  put(GEN_AI.usageOutputTokens, r.outputTokens);
  put(GEN_AI.responseId, r.responseId);
  if (r.input !== undefined) a[GEN_AI.inputMessages] = toJsonText(r.input);
  if (r.output !== undefined) a[GEN_AI.outputMessages] = toJsonText(r.output);
  if (r.finishReasons?.length) a[GEN_AI.responseFinishReasons] = r.finishReasons;
  return a;
}

/** Starts a span of a framework's tree under `parent` (its own start time: the framework's). */
export function startFrameworkSpan(name: string, attributes: Attributes, parent: Context, startTime?: TimeInput): Span {
  return arclightTracer().startSpan(name, { attributes, ...(startTime !== undefined ? { startTime } : {}) }, parent);
}

export function endWithError(span: Span, e: unknown, endTime?: TimeInput): void {
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : toJsonText(e);
  span.recordException(e instanceof Error ? e : new Error(message));
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end(endTime);
}

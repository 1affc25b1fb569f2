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
import { GEN_AI } from "../types/index.js";
import { safeJson } from "./attributes.js";
import { arclightTracer } from "./provider.js";

export interface ModelStep {
  /** Context the call span starts in: the step's parent span in the framework's tree, and the rollout scope. */
  readonly parent: Context;
  /** The framework's identity of the step (langchain.*, openai_agents.*), copied onto the call span. */
  readonly attributes: Attributes;
  /** Client call spans recorded for this step (retries make more than one). */
  calls: number;
}

/** Looks up the framework step a client call made in `active` belongs to. */
export type ModelStepFinder = (active: Context) => ModelStep | undefined;

const finders = new Set<ModelStepFinder>();

export function addModelStepFinder(f: ModelStepFinder): void {
  finders.add(f);
}

/** The framework step this client call records, counted as claimed; undefined outside every framework step. */
export function claimModelStep(active: Context): ModelStep | undefined {
  for (const f of finders) {
    const step = f(active);
    if (step) {
      step.calls++;
      return step;
    }
  }
  return undefined;
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
  if (r.input !== undefined) a[GEN_AI.inputMessages] = safeJson(r.input);
  if (r.output !== undefined) a[GEN_AI.outputMessages] = safeJson(r.output);
  if (r.finishReasons?.length) a[GEN_AI.responseFinishReasons] = r.finishReasons;
  return a;
}

/** Starts a span of a framework's tree under `parent` (its own start time: the framework's). */
export function startFrameworkSpan(name: string, attributes: Attributes, parent: Context, startTime?: TimeInput): Span {
  return arclightTracer().startSpan(name, { attributes, ...(startTime !== undefined ? { startTime } : {}) }, parent);
}

export function endWithError(span: Span, e: unknown, endTime?: TimeInput): void {
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : safeJson(e);
  span.recordException(e instanceof Error ? e : new Error(message));
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end(endTime);
}

// Span names and attribute keys. Agent Lightning's semconv for its own spans
// (so its users recognise them) and OpenTelemetry GenAI for LLM calls; the
// other conventions agents arrive with (OpenInference, the Vercel AI SDK) only
// as far as telling an LLM call from the rest.

export const AGL = {
  /** Span names of emit helpers. */
  spans: {
    reward: "agentlightning.reward",
    message: "agentlightning.message",
    object: "agentlightning.object",
    exception: "agentlightning.exception",
    annotation: "agentlightning.annotation",
    operation: "agentlightning.operation",
  },
  attrs: {
    /** JSON of the reward: a number or a map of dimension -> value. */
    reward: "agentlightning.reward",
    /** Primary reward value, as a number, for fast filtering. */
    rewardPrimary: "agentlightning.reward.0.value",
    rewardDimension: "agentlightning.reward.dimension",
    messageBody: "agentlightning.message.body",
    objectJson: "agentlightning.object.json",
    objectType: "agentlightning.object.type",
    operationName: "agentlightning.operation.name",
    operationInput: "agentlightning.operation.input",
    operationOutput: "agentlightning.operation.output",
    agentName: "agentlightning.agent.name",
    rolloutId: "agentlightning.rollout_id",
    attemptId: "agentlightning.attempt_id",
    /** Marks a metric row written by an algorithm (step, loss, ...). */
    metricStep: "agentlightning.metric.step",
  },
} as const;

/** OpenTelemetry GenAI semantic conventions used on LLM spans. */
export const GEN_AI = {
  operationName: "gen_ai.operation.name",
  system: "gen_ai.system",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  requestTemperature: "gen_ai.request.temperature",
  requestTopP: "gen_ai.request.top_p",
  requestMaxTokens: "gen_ai.request.max_tokens",
  responseId: "gen_ai.response.id",
  responseFinishReasons: "gen_ai.response.finish_reasons",
  usageInputTokens: "gen_ai.usage.input_tokens",
  usageOutputTokens: "gen_ai.usage.output_tokens",
  /** Deprecated names of the two usage counts (GenAI semconv before 1.27; the AI SDK still writes them). */
  usagePromptTokens: "gen_ai.usage.prompt_tokens",
  usageCompletionTokens: "gen_ai.usage.completion_tokens",
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
  /** Agents and tools (GenAI semconv's invoke_agent / execute_tool spans); the adapter reads the agent name for agentMatch. */
  agentName: "gen_ai.agent.name",
  toolName: "gen_ai.tool.name",
  toolCallId: "gen_ai.tool.call.id",
  toolCallArguments: "gen_ai.tool.call.arguments",
  toolCallResult: "gen_ai.tool.call.result",
  /** Not in the GenAI spec: the token ids training needs. */
  promptTokenIds: "gen_ai.prompt.token_ids",
  completionTokenIds: "gen_ai.completion.token_ids",
  completionLogprobs: "gen_ai.completion.logprobs",
} as const;

/** OpenInference (Arize/Phoenix) keys that mark an LLM span. */
export const OPENINFERENCE = {
  spanKind: "openinference.span.kind",
  modelName: "llm.model_name",
  promptTokens: "llm.token_count.prompt",
  completionTokens: "llm.token_count.completion",
} as const;

/**
 * Vercel AI SDK telemetry (ai-sdk.dev/docs/ai-sdk-core/telemetry). Each
 * `generateText`/`streamText`/... call records a wrapper span and one
 * provider-call span per model request below it; both carry token usage, so
 * only the provider calls count as LLM calls, or every call would count twice.
 */
export const AI_SDK = {
  operationId: "ai.operationId",
  providerCalls: ["ai.generateText.doGenerate", "ai.streamText.doStream", "ai.generateObject.doGenerate", "ai.streamObject.doStream"],
  /** Wrappers, embeddings and tool calls: AI SDK spans that are not an LLM call. */
  otherSpans: [
    "ai.generateText",
    "ai.streamText",
    "ai.generateObject",
    "ai.streamObject",
    "ai.embed",
    "ai.embed.doEmbed",
    "ai.embedMany",
    "ai.embedMany.doEmbed",
    "ai.toolCall",
  ],
} as const;

/**
 * Where a model call span's record of the call is: "child" on a framework's call span (the AI SDK's provider
 * call) whose request went to Arclight's proxy, which records the call, token ids included, as a span below
 * it; such a span is the framework's view of that call, not a second call.
 */
export const CALL_RECORD = "arclight.llm.call_record";

/** `gen_ai.operation.name` values that are a model generating text (not embeddings, tools or agents). */
export const LLM_OPERATIONS = ["chat", "text_completion", "generate_content", "completion"] as const;

/**
 * One step of the LLM-call rule. Steps are tried in order and the first that
 * applies decides:
 * - `attr`: the attribute holds a string; the span is an LLM call iff the string is in `llm`;
 * - `name`: the span name is in `names`; the answer is `llm`;
 * - `present`: any of `keys` is set (not null); the span is an LLM call.
 * Data rather than code so frames can compile the very same rule to SQL over
 * the Parquet files (src/frame/llm-sql.ts).
 */
export type LlmCallRule =
  | { by: "attr"; key: string; llm: readonly string[] }
  | { by: "name"; names: readonly string[]; llm: boolean }
  | { by: "present"; keys: readonly string[] };

export const LLM_CALL_RULES: readonly LlmCallRule[] = [
  // Emit helpers' spans (rewards, messages, operations) are never model calls, whatever they carry.
  { by: "name", names: Object.values(AGL.spans), llm: false },
  // A framework's call span whose call the proxy recorded below it: the record below is the call.
  { by: "attr", key: CALL_RECORD, llm: ["self"] },
  { by: "attr", key: AI_SDK.operationId, llm: AI_SDK.providerCalls },
  { by: "name", names: AI_SDK.providerCalls, llm: true },
  { by: "name", names: AI_SDK.otherSpans, llm: false },
  // Arclight's proxy and OpenAI instrumentation, and any GenAI-semconv instrumentation.
  { by: "attr", key: GEN_AI.operationName, llm: LLM_OPERATIONS },
  { by: "attr", key: OPENINFERENCE.spanKind, llm: ["LLM"] },
  // No kind given: a model, a provider or token usage is a model call (older GenAI semconv, OpenInference without a kind).
  {
    by: "present",
    keys: [
      GEN_AI.requestModel,
      GEN_AI.responseModel,
      GEN_AI.system,
      GEN_AI.providerName,
      GEN_AI.usageInputTokens,
      GEN_AI.usageOutputTokens,
      GEN_AI.usagePromptTokens,
      GEN_AI.usageCompletionTokens,
      OPENINFERENCE.modelName,
      OPENINFERENCE.promptTokens,
      OPENINFERENCE.completionTokens,
    ],
  },
];

/**
 * Is this span an LLM call? The one definition the adapter, frames and
 * summaries share (LLM_CALL_RULES): Arclight's proxy and OpenAI spans,
 * OpenTelemetry GenAI (current and deprecated names), OpenInference LLM spans
 * and the AI SDK's provider-call spans; not wrappers, embeddings, tools or
 * Arclight's own reward/message spans.
 */
export function isLlmCall(name: string, attributes: Readonly<Record<string, unknown>> | null | undefined): boolean {
  const a = attributes ?? {};
  for (const r of LLM_CALL_RULES) {
    if (r.by === "name") {
      if (r.names.includes(name)) return r.llm;
    } else if (r.by === "attr") {
      const v = a[r.key];
      if (typeof v === "string") return r.llm.includes(v);
    } else if (r.keys.some((k) => a[k] !== undefined && a[k] !== null)) return true;
  }
  return false;
}

// Span names and attribute keys. Agent Lightning's semconv for its own spans
// (so its users recognise them) and OpenTelemetry GenAI for LLM calls.

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
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
  /** Not in the GenAI spec: the token ids training needs. */
  promptTokenIds: "gen_ai.prompt.token_ids",
  completionTokenIds: "gen_ai.completion.token_ids",
  completionLogprobs: "gen_ai.completion.logprobs",
} as const;

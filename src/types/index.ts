// `agl.types`: the data model (rollouts, attempts, spans, resources, workers), its statuses
// and errors, and the span attribute names (semantic conventions).
// The zod schemas and the status transition tables are the store's own checks:
// import them from the files here (rollout.js, span.js, resources.js, status.js).
export {
  ROLLOUT_STATUSES,
  ATTEMPT_STATUSES,
  TERMINAL_ROLLOUT_STATUSES,
  TERMINAL_ATTEMPT_STATUSES,
  InvalidTransitionError,
  isRolloutTerminal,
  isAttemptTerminal,
  type RolloutStatus,
  type AttemptStatus,
} from "./status.js";
export * from "./errors.js";
// idSchema and isWellFormedText stay internal (the store's own checks); parseOrThrow is the one public helper.
export { parseOrThrow } from "./validate.js";
export {
  DEFAULT_ROLLOUT_CONFIG,
  type TaskInput,
  type RolloutMode,
  type RolloutConfigInput,
  type RolloutConfig,
  type Rollout,
  type Attempt,
  type AttemptedRollout,
  type EnqueueRolloutRequest,
  type RolloutUpdate,
  type AttemptUpdate,
} from "./rollout.js";
export type { AttributeValue, Attributes, Span, SpanInput, SpanQuery } from "./span.js";
export {
  formatPrompt,
  type Resource,
  type LLMResource,
  type PromptTemplate,
  type PolicyCheckpoint,
  type NamedResources,
  type ResourcesUpdate,
} from "./resources.js";
export type { WorkerStatus, Worker, WorkerUpdate } from "./worker.js";
export * from "./semconv.js";

export * from "./backend.js";
export { PolicyBackend, type PolicyBackendOptions } from "./policy-backend.js";
export { UpstreamBackend, type UpstreamOptions } from "./upstream-backend.js";
export { LlmProxy, startLlmProxy, TRACED_HEADER, type LlmProxyOptions } from "./proxy.js";
export { ApiError, ChatRequestSchema, CompletionRequestSchema, ToolSchema } from "./requests.js";
export { MessagesRequestSchema } from "./anthropic.js";
export { parseToolCalls, forcedToolPrefix, type ParsedReply } from "./tool-calls.js";
export { resultFromBody, StreamAccumulator } from "./upstream-backend.js";

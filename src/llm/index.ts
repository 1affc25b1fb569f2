export * from "./backend.js";
export { PolicyBackend, type PolicyBackendOptions } from "./policy-backend.js";
export { UpstreamBackend, type UpstreamOptions } from "./upstream-backend.js";
export { LlmProxy, startLlmProxy, TRACED_HEADER, type LlmProxyOptions } from "./proxy.js";
export { ApiError } from "./requests.js";
export { parseToolCalls, type ParsedReply } from "./tool-calls.js";

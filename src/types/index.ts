export * from "./status.js";
export * from "./errors.js";
export * from "./validate.js";
export * from "./rollout.js";
export * from "./span.js";
export * from "./resources.js";
export * from "./worker.js";
export * from "./semconv.js";

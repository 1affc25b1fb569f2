export * from "./status.js";
export * from "./errors.js";
// idSchema and isWellFormedText stay internal (the store's own checks); parseOrThrow is the one public helper.
export { parseOrThrow } from "./validate.js";
export * from "./rollout.js";
export * from "./span.js";
export * from "./resources.js";
export * from "./worker.js";
export * from "./semconv.js";

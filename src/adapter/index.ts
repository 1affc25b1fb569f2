export * from "./rewards.js";
export * from "./triplets.js";
export * from "./credit.js";
export * from "./tree.js";
export * from "./episodes.js";

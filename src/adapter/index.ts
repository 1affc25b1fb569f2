export * from "./rewards.js";
export * from "./triplets.js";

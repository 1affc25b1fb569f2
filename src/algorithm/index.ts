export * from "./algorithm.js";
export * from "./baseline.js";

export * from "./agent.js";
export * from "./hooks.js";
export * from "./runner.js";

export * from "./trainer.js";
export type { RunnerProcessesOptions } from "./runner-processes.js";

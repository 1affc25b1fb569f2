// The `agl.frames` namespace: one call per table a researcher wants.
export { spans, rollouts, attempts, rewards, llmCalls, triplets, messagesText, type SpanFrameOptions } from "./frames.js";
export { rolloutSummary, rewardByStep, latencyByName, compareRuns, type RewardByStepOptions } from "./helpers.js";
export { frameSchema, type ColumnKind } from "./columns.js";
export type { FrameSource, SpanFilter } from "./source.js";
// The types of the frame functions at the top of `agl` (sql, rescore, writeSyntheticRun).
export type { SqlOptions } from "./sql.js";
export type { RescoreContext, RescoreOptions, RewardFn, LlmCall, Message } from "./rescore.js";
export type { SyntheticRunOptions, SyntheticRun } from "./synthetic.js";

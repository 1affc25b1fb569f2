// Public face of frames: agl.frames.*, agl.sql, agl.rescore, and the seeded toy run.
export * as frames from "./api.js";
export type { FrameSource, SpanFilter } from "./source.js";
export { sql, type SqlOptions } from "./sql.js";
export { rescore, type RescoreContext, type RescoreOptions, type RewardFn, type LlmCall, type Message } from "./rescore.js";
export { writeSyntheticRun, seededRandom, type SyntheticRunOptions, type SyntheticRun } from "./synthetic.js";
export { RESCORED_ATTR } from "./rewards.js";

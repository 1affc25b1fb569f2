// Public face of the native trainer: `agl.native.Policy` and friends.
export { Policy, PolicyAdapter, estimateParams } from "./policy.js";
export type {
  PolicyConfig,
  Family,
  RopeScaling,
  LoraOptions,
  LoraTarget,
  PretrainedOptions,
  Device,
  Precision,
  DeviceOptions,
  GenerateOptions,
  Generation,
  FinishReason,
  TrainOptions,
  TrainStats,
  LogprobResult,
} from "./policy.js";
export type { SequenceBatch } from "./batch.js";
export { groupAdvantages, consecutiveGroups } from "./advantages.js";
export type { AdvantageOptions } from "./advantages.js";
export { NativeAddonMissingError, isAddonBuilt, loadAddon } from "./addon.js";
export type { GradCheckResult } from "./addon.js";

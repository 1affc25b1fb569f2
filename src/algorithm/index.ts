export * from "./algorithm.js";
export * from "./baseline.js";
export { MetricsLog, METRICS_SPAN, METRIC_PREFIX } from "./metrics.js";
export { GrpoAlgorithm, type GrpoOptions, type GrpoStepMetrics, type GrpoResult } from "./grpo.js";
export { SftAlgorithm, type SftOptions, type SftResult } from "./sft.js";
import { grpo } from "./grpo.js";
import { sft } from "./sft.js";
import { BaselineAlgorithm } from "./baseline.js";
import { promptSearch } from "./prompt-search.js";

export type { PromptSearchOptions, PromptSearchResult, CandidateScore } from "./prompt-search.js";
export type { ScoreInterval, PairedComparison } from "./prompt-search-stats.js";

/** `agl.algorithms.grpo({...})`, `.sft({...})`, `.promptSearch({...})`, `.baseline()`. */
export const algorithms = { grpo, sft, promptSearch, baseline: () => new BaselineAlgorithm() };

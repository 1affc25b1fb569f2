export * from "./algorithm.js";
export * from "./baseline.js";
export { MetricsLog, METRICS_SPAN, METRIC_PREFIX } from "./metrics.js";
export { GrpoAlgorithm, type GrpoOptions, type GrpoStepMetrics, type GrpoResult } from "./grpo.js";
export { SftAlgorithm, type SftOptions, type SftResult } from "./sft.js";
import { grpo } from "./grpo.js";
import { sft } from "./sft.js";
import { BaselineAlgorithm } from "./baseline.js";
import { promptSearch } from "./prompt-search.js";
import { apo as apoAlgorithm } from "./apo.js";
import { readApoRun, apoRunIds } from "./apo-history.js";

export type { PromptSearchOptions, PromptSearchResult, CandidateScore } from "./prompt-search.js";
export type { ScoreInterval, PairedComparison } from "./prompt-search-stats.js";
export type { ApoOptions, ApoResult, ApoCandidate } from "./apo.js";
export type { OptimizerConfig } from "./apo-optimizer.js";
export type { ApoRun, ApoRoundRow, ApoScoreRow, ApoCandidateRow, ApoCritiqueRow, ApoEditRow } from "./apo-history.js";

/** `agl.algorithms.apo({...})`; `.history(store, runId?)` reads a run back as rows, `.runs(store)` lists run ids. */
const apo = Object.assign(apoAlgorithm, { history: readApoRun, runs: apoRunIds });

/** `agl.algorithms.grpo({...})`, `.sft({...})`, `.apo({...})`, `.promptSearch({...})`, `.baseline()`. */
export const algorithms = { grpo, sft, apo, promptSearch, baseline: () => new BaselineAlgorithm() };

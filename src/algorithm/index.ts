// `agl.algorithms`: the factories (`grpo`, `sft`, `apo`, `promptSearch`, `baseline`) and their classes and types.
export * from "./algorithm.js";
export * from "./baseline.js";
export { MetricsLog, METRICS_SPAN, METRIC_PREFIX } from "./metrics.js";
export { GrpoAlgorithm, type GrpoOptions, type GrpoStepMetrics, type GrpoModelStepMetrics, type GrpoResult } from "./grpo.js";
export { SftAlgorithm, type SftOptions, type SftResult } from "./sft.js";
export { grpo } from "./grpo.js";
export { sft } from "./sft.js";
export { promptSearch } from "./prompt-search.js";
import { BaselineAlgorithm } from "./baseline.js";
import { apo as apoAlgorithm } from "./apo.js";
import { readApoRun, apoRunIds } from "./apo-history.js";

export type { PromptSearchOptions, PromptSearchResult, CandidateScore } from "./prompt-search.js";
export type { ScoreInterval, PairedComparison } from "./prompt-search-stats.js";
export type { ApoOptions, ApoResult, ApoCandidate } from "./apo.js";
export type { OptimizerConfig } from "./apo-optimizer.js";
export type { ApoRun, ApoRoundRow, ApoScoreRow, ApoCandidateRow, ApoCritiqueRow, ApoEditRow } from "./apo-history.js";

/** `agl.algorithms.apo({...})`; `.history(store, runId?)` reads a run back as rows, `.runs(store)` lists run ids. */
export const apo = Object.assign(apoAlgorithm, { history: readApoRun, runs: apoRunIds });

/** `agl.algorithms.baseline()`: runs the tasks once and reports their rewards (no training). */
export const baseline = (): BaselineAlgorithm => new BaselineAlgorithm();

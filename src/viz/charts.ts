// Ready-made charts over frames: reward curves, distributions, latency,
// tokens, run comparison and reward agreement, one file each in charts/.
// Each aggregates in JS first so the embedded data stays small, then hands
// back an editable, typed vega-lite spec.

export { rewardCurve, type RewardCurveOptions } from "./charts/reward-curve.js";
export { rewardDistribution, type RewardDistributionOptions } from "./charts/reward-distribution.js";
export { latency, latencyPercentiles, type LatencyOptions, type LatencyRow } from "./charts/latency.js";
export { tokens, type TokensOptions } from "./charts/tokens.js";
export { compareRuns, type CompareRunsOptions } from "./charts/compare-runs.js";
export { rewardAgreement, AgreementChart, type RewardAgreementOptions, type Disagreement } from "./charts/reward-agreement.js";

// `agl.adapter`: from stored spans to training data (rewards, triplets, credit, the trace tree, episodes).
export { isRewardSpan, rewardDimensions, primaryReward, finalReward, type RewardDimension } from "./rewards.js";
export { isLlmSpan, spansToTriplets, adaptRollouts, type Triplet, type AdapterOptions } from "./triplets.js";
export { rewardEvents, assignCredit, type RewardEvent, type CreditCall, type CreditFunction, type CreditAssignment } from "./credit.js";
export { spanAgentName, TraceTree, type TraceNode } from "./tree.js";
export { checkPrefix, joinCalls, episodeSequences, type EpisodeSequence, type EpisodeCheck } from "./episodes.js";

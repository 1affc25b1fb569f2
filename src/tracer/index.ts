export { emitReward, emitMessage, emitObject, emitException, emitAnnotation, type RewardValue, type EmitRewardOptions } from "./emit.js";
export { operation } from "./operation.js";
export { instrumentOpenAI } from "./openai.js";
export { instrumentFrameworks } from "./frameworks.js";
export { withAgent, currentSpan, installGlobalTracing, useGlobalTracing, globalTracing } from "./provider.js";
export { TraceScope, withScope, activeScope } from "./scope.js";
export { devStore, DEV_ROLLOUT_ID } from "./dev.js";
export { flushTraces } from "./flush.js";

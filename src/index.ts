// The whole cell/script API: `import * as agl from "arclight"`.
//
// The top level is what a researcher types in a notebook or an agent script
// (README's "The agl namespace" says why; test/public-api.test.ts holds the list);
// everything else public lives in its module's namespace (`agl.store`,
// `agl.llm`, ...), each one that module's own index.ts. Schemas, byte tables
// and other internals are in neither: import them from their module files.

// Agents and what they record.
export { rollout } from "./runner/agent.js";
export {
  emitReward,
  emitMessage,
  emitObject,
  emitException,
  emitAnnotation,
  operation,
  instrumentOpenAI,
  instrumentFrameworks,
  devStore,
} from "./tracer/index.js";
export { formatPrompt } from "./types/resources.js";

// Where runs live.
export { openStore, connectStore } from "./store/index.js";
export { serveStore } from "./server/index.js";

// Training.
export { Trainer, type TrainerOptions, type FitData } from "./trainer/trainer.js";
export * as algorithms from "./algorithm/index.js";
export { spansToTriplets, type Triplet } from "./adapter/triplets.js";

// Looking at runs.
export { frames, sql, rescore, writeSyntheticRun, type RescoreContext } from "./frame/index.js";
export { charts, chart, table } from "./viz/index.js";
export { display, updateDisplay, clearOutput, progress, recordSeed } from "./display/index.js";

// The data model's everyday types.
export type { Span } from "./types/span.js";
export type { Rollout, Attempt } from "./types/rollout.js";
export type { PromptTemplate } from "./types/resources.js";
export type { LightningStore } from "./store/lightning-store.js";
export type { Agent, RolloutContext } from "./runner/agent.js";

// Everything else, by module.
export * as native from "./native/index.js";
export * as examples from "./examples/index.js";
export * as store from "./store/index.js";
export * as server from "./server/index.js";
export * as tracer from "./tracer/index.js";
export * as runner from "./runner/index.js";
export * as adapter from "./adapter/index.js";
export * as llm from "./llm/index.js";
export * as tokenizer from "./tokenizer/index.js";
export * as types from "./types/index.js";
export * as viz from "./viz/index.js";
export * as notebook from "./display/index.js";

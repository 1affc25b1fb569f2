import type { LightningStore } from "../store/lightning-store.js";
import type { RolloutConfigInput } from "../types/index.js";

/** What an algorithm gets from the trainer while runners work the queue. */
export interface AlgorithmContext {
  store: LightningStore;
  train: readonly unknown[];
  val: readonly unknown[];
  /** Retry policy the trainer was configured with; pass it to enqueueRollout. */
  rolloutConfig: RolloutConfigInput;
  /** Aborted when the user stops the fit (notebook interrupt). */
  signal: AbortSignal;
  log: (message: string) => void;
}

/** Enqueues rollouts, reads their spans, publishes resources; the trainer runs it beside the runners. */
export interface Algorithm<R = unknown> {
  readonly name: string;
  run(ctx: AlgorithmContext): Promise<R>;
}

// What a store is opened with: the options every in-process store takes
// (memory and durable), and the retry policy they resolve rollouts with.

import { z } from "zod";
import type { RolloutConfig, RolloutConfigInput } from "../types/index.js";
import { RolloutConfigSchema } from "../types/rollout.js";

export const StoreOptionsSchema = z
  .object({
    readOnly: z.boolean().optional(),
    /** Store-wide retry policy; rollouts override field by field. */
    defaults: RolloutConfigSchema.optional(),
    /** Durable stores: when an append is acknowledged (see durable-store.ts). */
    fsync: z.enum(["always", "batch", "none"]).optional(),
    /** How often the deadline timer runs checkDeadlines; 0 turns the timer off. */
    deadlineCheckIntervalMs: z.number().int().min(0).optional(),
    /** Durable stores: spans logged before a checkpoint writes them to a Parquet part. */
    parquetRollSpans: z.number().int().positive().optional(),
    /** Durable stores: WAL bytes before a checkpoint. */
    parquetRollBytes: z.number().int().positive().optional(),
    /** Durable stores: a checkpoint runs at least this often while spans are pending; 0 = only by size and on close. */
    checkpointIntervalMs: z.number().int().min(0).optional(),
    /**
     * Read-only durable stores: how often to pick up what the writer logged
     * since (an incremental read of the WAL tail); 0 = only on refresh().
     */
    followIntervalMs: z.number().int().min(0).optional(),
    /** Epoch-millisecond clock; tests pass a fake one. */
    clock: z.custom<() => number>((v) => typeof v === "function", "expected a function returning epoch ms").optional(),
  })
  .strict();
export type StoreOptions = z.input<typeof StoreOptionsSchema>;
export type ParsedStoreOptions = z.output<typeof StoreOptionsSchema>;

/** `base` with the fields `over` sets replaced (a rollout's own policy over the store's). */
export function resolveConfig(base: RolloutConfig, over: RolloutConfigInput | undefined): RolloutConfig {
  return {
    timeoutSeconds: over?.timeoutSeconds !== undefined ? over.timeoutSeconds : base.timeoutSeconds,
    unresponsiveSeconds: over?.unresponsiveSeconds !== undefined ? over.unresponsiveSeconds : base.unresponsiveSeconds,
    maxAttempts: over?.maxAttempts ?? base.maxAttempts,
    retryConditions: [...(over?.retryConditions ?? base.retryConditions)],
  };
}

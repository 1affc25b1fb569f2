import { z } from "zod";
import { idSchema } from "./validate.js";
import { ATTEMPT_STATUSES, ROLLOUT_STATUSES } from "./status.js";

/** Whatever the agent receives as its task: any JSON value. */
export type TaskInput = unknown;

export const RolloutModeSchema = z.enum(["train", "val", "test"]);
export type RolloutMode = z.infer<typeof RolloutModeSchema>;

export const RolloutStatusSchema = z.enum(ROLLOUT_STATUSES);
export const AttemptStatusSchema = z.enum(ATTEMPT_STATUSES);

/** Retry policy of one rollout; store defaults fill what a rollout leaves out. */
export const RolloutConfigSchema = z.object({
  /** Seconds an attempt may run before it is marked `timeout`; null = no limit. */
  timeoutSeconds: z.number().positive().nullable().optional(),
  /** Seconds without a heartbeat or span before an attempt is marked `unresponsive`; null = never. */
  unresponsiveSeconds: z.number().positive().nullable().optional(),
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  /** Attempt outcomes that requeue the rollout while attempts remain. */
  retryConditions: z.array(AttemptStatusSchema).optional(),
});
export type RolloutConfigInput = z.infer<typeof RolloutConfigSchema>;
export interface RolloutConfig {
  timeoutSeconds: number | null;
  unresponsiveSeconds: number | null;
  maxAttempts: number;
  retryConditions: z.infer<typeof AttemptStatusSchema>[];
}

export const DEFAULT_ROLLOUT_CONFIG: RolloutConfig = {
  timeoutSeconds: null,
  unresponsiveSeconds: null,
  maxAttempts: 1,
  retryConditions: ["failed", "timeout", "unresponsive"],
};

export const MetadataSchema = z.record(z.string(), z.unknown());

export const RolloutSchema = z.object({
  rolloutId: z.string().min(1),
  input: z.unknown(),
  /** Epoch milliseconds. */
  startTime: z.number(),
  endTime: z.number().nullable(),
  mode: RolloutModeSchema.nullable(),
  resourcesId: z.string().nullable(),
  status: RolloutStatusSchema,
  config: z.object({
    timeoutSeconds: z.number().nullable(),
    unresponsiveSeconds: z.number().nullable(),
    maxAttempts: z.number().int(),
    retryConditions: z.array(AttemptStatusSchema),
  }),
  metadata: MetadataSchema,
});
export type Rollout = z.infer<typeof RolloutSchema>;

export const AttemptSchema = z.object({
  rolloutId: z.string(),
  attemptId: z.string(),
  /** 1 for the first attempt of a rollout, 2 for its first retry, ... */
  sequenceId: z.number().int().min(1),
  startTime: z.number(),
  endTime: z.number().nullable(),
  status: AttemptStatusSchema,
  workerId: z.string().nullable(),
  lastHeartbeatTime: z.number().nullable(),
  metadata: MetadataSchema,
});
export type Attempt = z.infer<typeof AttemptSchema>;

/** A rollout together with the attempt a runner is working on. */
export type AttemptedRollout = Rollout & { attempt: Attempt };

/** What enqueueRollout accepts. */
export const EnqueueRolloutSchema = z.object({
  input: z.unknown(),
  mode: RolloutModeSchema.nullable().optional(),
  resourcesId: z.string().min(1).nullable().optional(),
  config: RolloutConfigSchema.optional(),
  metadata: MetadataSchema.optional(),
  /** Caller-chosen id; the store makes one when left out. */
  rolloutId: idSchema("rolloutId", 256).optional(),
});
export type EnqueueRolloutRequest = z.input<typeof EnqueueRolloutSchema>;

export const RolloutUpdateSchema = z
  .object({
    status: RolloutStatusSchema.optional(),
    input: z.unknown().optional(),
    mode: RolloutModeSchema.nullable().optional(),
    resourcesId: z.string().nullable().optional(),
    config: RolloutConfigSchema.optional(),
    metadata: MetadataSchema.optional(),
    endTime: z.number().nullable().optional(),
  })
  .strict();
export type RolloutUpdate = z.input<typeof RolloutUpdateSchema>;

export const AttemptUpdateSchema = z
  .object({
    status: AttemptStatusSchema.optional(),
    workerId: z.string().nullable().optional(),
    lastHeartbeatTime: z.number().nullable().optional(),
    metadata: MetadataSchema.optional(),
    endTime: z.number().nullable().optional(),
  })
  .strict();
export type AttemptUpdate = z.input<typeof AttemptUpdateSchema>;

// Schemas of the LightningStore operations' arguments that types/ does not
// define already. Any backend validates its inputs with these, so every store
// refuses the same calls with the same ValidationError.

import { z } from "zod";
import { idSchema, isValidId, parseOrThrow } from "../types/validate.js";
import { AttemptUpdateSchema, RolloutModeSchema, RolloutStatusSchema } from "../types/rollout.js";
import { ATTEMPT_STATUSES } from "../types/status.js";
import { isPlainObject } from "../types/json.js";

export const RolloutIdSchema = idSchema("rolloutId");
export const AttemptIdSchema = idSchema("attemptId");
export const ResourcesIdSchema = idSchema("resourcesId");
export const WorkerIdSchema = idSchema("workerId");
export const DequeueOptionsSchema = z.object({ workerId: WorkerIdSchema.optional() }).strict().optional();
/** DequeueOptionsSchema's answer; a runner's `{ workerId }` is checked in plain code (isValidId), anything else by zod. */
export function parseDequeueOptions(opts: unknown, where: string): z.output<typeof DequeueOptionsSchema> {
  if (isPlainObject(opts)) {
    const keys = Object.keys(opts);
    if (keys.length === 1 && keys[0] === "workerId" && isValidId(WorkerIdSchema, opts.workerId)) return { workerId: opts.workerId };
  }
  return parseOrThrow(DequeueOptionsSchema, opts, where);
}
const ATTEMPT_STATUS_SET = new Set<unknown>(ATTEMPT_STATUSES);
const finiteOrNull = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));
/**
 * AttemptUpdateSchema's answer. The runner's own updates (a status, an end time, a worker, a heartbeat)
 * are checked in plain code: zod cost ~8 us of every rollout's two updates in the running loop. Anything
 * else (metadata, a bad field) goes to zod, which words the error.
 */
export function parseAttemptUpdate(update: unknown, where: string): z.output<typeof AttemptUpdateSchema> {
  if (!isPlainObject(update)) return parseOrThrow(AttemptUpdateSchema, update, where);
  const out: z.output<typeof AttemptUpdateSchema> = {};
  for (const k of Object.keys(update)) {
    const v = update[k];
    if (k === "status" && ATTEMPT_STATUS_SET.has(v)) out.status = v as typeof out.status;
    else if (k === "workerId" && (v === null || typeof v === "string")) out.workerId = v;
    else if (k === "lastHeartbeatTime" && finiteOrNull(v)) out.lastHeartbeatTime = v as number | null;
    else if (k === "endTime" && finiteOrNull(v)) out.endTime = v as number | null;
    else return parseOrThrow(AttemptUpdateSchema, update, where);
  }
  return out;
}
export const LimitSchema = z.number().int().min(1);
export const SequenceIdSchema = z.number().int().min(0);
export const WaitSchema = z.object({
  ids: z.array(RolloutIdSchema),
  opts: z
    .object({ timeoutMs: z.number().min(0).optional() })
    .strict()
    .optional(),
});
export const RolloutQuerySchema = z
  .object({
    status: z.union([RolloutStatusSchema, z.array(RolloutStatusSchema)]).optional(),
    ids: z.array(z.string()).optional(),
    mode: RolloutModeSchema.optional(),
  })
  .strict()
  .optional();
export const WorkerUpdateSchema = z
  .object({
    status: z.enum(["idle", "busy", "unknown"]).optional(),
    heartbeatStats: z.record(z.string(), z.unknown()).nullable().optional(),
    currentRolloutId: z.string().nullable().optional(),
    currentAttemptId: z.string().nullable().optional(),
  })
  .strict();
/** checkDeadlines' clock override. */
export const NowSchema = z.number().optional();

// Reward prototyping: apply a new reward function to stored rollouts without
// re-running the agents, compare it with the reward they got, and optionally
// write it back as a separate, named reward dimension.

import type { ColumnTable } from "arquero";
import { z } from "zod";
import { finalReward, primaryReward } from "../adapter/rewards.js";
import type { LightningStore } from "../store/lightning-store.js";
import { ValidationError } from "../types/errors.js";
import type { Attempt, Rollout, Span } from "../types/index.js";
import { AGL, GEN_AI } from "../types/semconv.js";
import { parseJsonText } from "../types/json.js";
import { parseOrThrow } from "../types/validate.js";
import { ColumnBuilder } from "./columns.js";
import { isLlmRecord, messagesText, rolloutContexts } from "./frames.js";
import { RESCORED_ATTR, rewardEntries } from "./rewards.js";
import { checkSource, loadSpans, loadState, parseFilter, type FrameSource, type SpanRecord, recordToSpan as toSpan } from "./source.js";
import { newSpanId } from "./synthetic.js";

/** One LLM call as a reward function sees it. */
export interface LlmCall {
  spanId: string;
  sequenceId: number;
  model: string | null;
  agentName: string | null;
  /** Input messages as the SDK sent them (parsed JSON), and as text. */
  inputMessages: unknown;
  prompt: string | null;
  outputMessages: unknown;
  response: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  latencyMs: number;
}

export interface Message {
  role: string;
  content: unknown;
}

/** What a reward function receives for one rollout (its latest attempt). */
export interface RescoreContext {
  rollout: Rollout;
  attempt: Attempt | null;
  /** Every span of the attempt, by sequence id; rescored reward spans left out. */
  spans: Span[];
  llmCalls: LlmCall[];
  /** The conversation: each call's new input messages, then its output, in order, without repeats. */
  messages: Message[];
  /** The reward the rollout got (primary value of its last reward span), or null. */
  oldReward: number | null;
}

export type RewardFn = (ctx: RescoreContext) => number | null | undefined | Promise<number | null | undefined>;

const RescoreOptionsSchema = z
  .object({
    /** Dimension name for write-back and the frame's label (default "rescored"). */
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\w.\-:]+$/, "letters, digits, _ . - : only")
      .default("rescored"),
    /** Write the new rewards back as reward spans of that dimension (default false). */
    writeBack: z.boolean().default(false),
    /** Only these rollouts. */
    rolloutIds: z.array(z.string().min(1)).optional(),
    /** Only rollouts in these statuses (default: every rollout that has spans). */
    status: z.array(z.string()).optional(),
  })
  .strict();
export type RescoreOptions = z.input<typeof RescoreOptionsSchema>;

function llmCallOf(r: SpanRecord): LlmCall {
  const a = r.attributes ?? {};
  const input = parseJsonText(a[GEN_AI.inputMessages]);
  const output = parseJsonText(a[GEN_AI.outputMessages]);
  const first = Array.isArray(output) ? (output[0] as { content?: unknown } | undefined) : undefined;
  return {
    spanId: r.spanId,
    sequenceId: r.sequenceId,
    model: r.model,
    agentName: typeof a[AGL.attrs.agentName] === "string" ? (a[AGL.attrs.agentName] as string) : null,
    inputMessages: input,
    prompt: messagesText(input),
    outputMessages: output,
    response: typeof first?.content === "string" ? first.content : typeof output === "string" ? output : null,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    latencyMs: r.endTime - r.startTime,
  };
}

function asMessages(x: unknown): Message[] {
  if (!Array.isArray(x)) return typeof x === "string" ? [{ role: "user", content: x }] : [];
  return x
    .filter((m): m is { role?: unknown; content?: unknown } => typeof m === "object" && m !== null)
    .map((m) => ({ role: typeof m.role === "string" ? m.role : "unknown", content: m.content ?? null }));
}

/** Chat calls resend the history; keep each message once, in order. */
function conversation(calls: LlmCall[]): Message[] {
  const out: Message[] = [];
  const seen = new Set<string>();
  const add = (m: Message) => {
    const k = JSON.stringify(m);
    if (seen.has(k)) return;
    seen.add(k);
    out.push(m);
  };
  for (const c of calls) {
    asMessages(c.inputMessages).forEach(add);
    asMessages(c.outputMessages).forEach(add);
  }
  return out;
}

function isRescored(r: SpanRecord): boolean {
  return r.attributes?.[RESCORED_ATTR] === true;
}

/**
 * Applies `rewardFn` to every stored rollout (latest attempt) and returns a
 * frame: rollout_id, attempt_id, step, status, old_reward, new_reward, diff,
 * error. With `writeBack: true` (a writable store only) each new reward is
 * added as a reward span of dimension `name`, marked rescored and without
 * the indexed primary attribute, so the rollout's original reward, and what
 * the adapter trains on, stay as they were.
 */
export async function rescore(source: FrameSource, rewardFn: RewardFn, options: RescoreOptions = {}): Promise<ColumnTable> {
  const src = checkSource(source, "rescore");
  if (typeof rewardFn !== "function") throw new ValidationError("rescore", ["rewardFn: expected a function (ctx) => number | null"]);
  const opts = parseOrThrow(RescoreOptionsSchema, options, "rescore options");
  if (opts.writeBack && typeof src === "string") {
    throw new ValidationError("rescore", ["writeBack needs a writable store: pass `await openStore(dir)` instead of the directory path"]);
  }
  if (opts.writeBack && (src as LightningStore).readOnly)
    throw new ValidationError("rescore", ["writeBack needs a writable store; this one was opened read-only"]);

  const ctx = rolloutContexts(await loadState(src, opts.rolloutIds));
  const filter = parseFilter(opts.rolloutIds ? { rolloutId: opts.rolloutIds } : {}, "rescore");
  const recs = await loadSpans(src, filter, { attributes: true });
  const byAttempt = new Map<string, SpanRecord[]>();
  for (const r of recs) {
    const k = `${r.rolloutId}\u0000${r.attemptId}`;
    let l = byAttempt.get(k);
    if (!l) byAttempt.set(k, (l = []));
    l.push(r);
  }

  // Refuse a name that already means something in these rollouts before anything is written.
  const original = new Set<string>();
  const alreadyWritten = new Set<string>();
  for (const r of recs) {
    for (const e of rewardEntries(r.attributes, r.reward)) {
      if (isRescored(r)) {
        if (e.dimension === opts.name) alreadyWritten.add(r.rolloutId);
      } else original.add(e.dimension);
    }
  }
  if (opts.writeBack && original.has(opts.name)) {
    throw new ValidationError("rescore", [
      `name ${JSON.stringify(opts.name)} is an original reward dimension of these rollouts; pick a new name`,
    ]);
  }
  if (opts.writeBack && alreadyWritten.size) {
    throw new ValidationError("rescore", [
      `dimension ${JSON.stringify(opts.name)} was already written back for ${alreadyWritten.size} rollout(s); pick a new name`,
    ]);
  }

  const b = new ColumnBuilder([
    { name: "rollout_id", kind: "string" },
    { name: "attempt_id", kind: "string" },
    { name: "step", kind: "int" },
    { name: "status", kind: "string" },
    { name: "old_reward", kind: "float64" },
    { name: "new_reward", kind: "float64" },
    { name: "diff", kind: "float64" },
    { name: "dimension", kind: "string" },
    { name: "error", kind: "string" },
  ]);
  const writes: Omit<Span, "sequenceId">[] = [];
  const list = [...ctx.values()].sort((a, c) => a.rollout.startTime - c.rollout.startTime);
  for (const c of list) {
    if (opts.status && !opts.status.includes(c.rollout.status)) continue;
    // The latest attempt that has spans: a requeued rollout's newest attempt may not have run yet.
    let attempt: Attempt | null = null;
    let records: SpanRecord[] = [];
    for (const a of [...c.attempts].reverse()) {
      const l = byAttempt.get(`${c.rollout.rolloutId}\u0000${a.attemptId}`);
      if (l?.length) {
        attempt = a;
        records = l;
        break;
      }
    }
    if (!attempt) continue;
    records = records.filter((r) => !isRescored(r)).sort((x, y) => x.sequenceId - y.sequenceId);
    const spans = records.map(toSpan);
    const llmCalls = records.filter(isLlmRecord).map(llmCallOf);
    const oldReward = finalReward(spans);
    let value: number | null = null;
    let error: string | null = null;
    try {
      const v = await rewardFn({ rollout: c.rollout, attempt, spans, llmCalls, messages: conversation(llmCalls), oldReward });
      if (v === null || v === undefined) value = null;
      else if (typeof v === "boolean") value = v ? 1 : 0;
      else if (typeof v === "number" && Number.isFinite(v)) value = v;
      else error = `reward function returned ${typeof v === "number" ? v : typeof v}, expected a finite number or null`;
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    b.push({
      rollout_id: c.rollout.rolloutId,
      attempt_id: attempt.attemptId,
      step: c.step,
      status: c.rollout.status,
      old_reward: oldReward,
      new_reward: value,
      diff: value !== null && oldReward !== null ? value - oldReward : null,
      dimension: opts.name,
      error,
    });
    if (opts.writeBack && value !== null) {
      const anchor = spans.find((s) => primaryReward(s) !== null) ?? spans[0];
      const now = Date.now();
      writes.push({
        rolloutId: c.rollout.rolloutId,
        attemptId: attempt.attemptId,
        traceId: anchor.traceId,
        spanId: newSpanId(),
        parentId: anchor.parentId,
        name: AGL.spans.reward,
        status: { statusCode: "OK", description: null },
        attributes: {
          [AGL.attrs.reward]: JSON.stringify({ [opts.name]: value }),
          [AGL.attrs.rewardDimension]: opts.name,
          [RESCORED_ATTR]: true,
        },
        events: [],
        links: [],
        startTime: now,
        endTime: now,
        resource: { attributes: { "service.name": "arclight-rescore" }, schemaUrl: "" },
      });
    }
  }
  if (writes.length) await (src as LightningStore).addSpans(writes);
  return b.table();
}

// The adapter: a rollout's spans -> (prompt, response, reward) triplets, the
// unit the trainer learns from. Rewards attach to the LLM call they follow.
import { z } from "zod";
import { AGL, GEN_AI, isLlmCall, parseOrThrow, type Span } from "../types/index.js";
import type { LightningStore } from "../store/lightning-store.js";
import { finalReward, primaryReward } from "./rewards.js";

export interface Triplet {
  rolloutId: string;
  attemptId: string;
  /** Sequence id of the LLM span this triplet came from. */
  sequenceId: number;
  spanId: string;
  agentName: string | null;
  model: string | null;
  prompt: { tokenIds: number[] | null; messages: unknown };
  response: { tokenIds: number[] | null; logprobs: number[] | null; text: string | null };
  reward: number | null;
}

export const AdapterOptionsSchema = z
  .object({
    /** Keep only LLM calls made by these agents (name, list of names, or RegExp). */
    agentMatch: z.union([z.string(), z.array(z.string()), z.instanceof(RegExp)]).optional(),
    /**
     * "matched": a reward goes to the last LLM call before it (Agent Lightning's rule);
     * "final": every call gets the rollout's final reward (what GRPO on whole episodes wants).
     */
    rewardAssignment: z.enum(["matched", "final"]).default("matched"),
    /** Drop calls that lack token ids (needed for training, not for analysis). */
    requireTokenIds: z.boolean().default(false),
  })
  .strict();
export type AdapterOptions = z.input<typeof AdapterOptionsSchema>;

/** Is this span an LLM call? semconv's one definition (isLlmCall). */
export function isLlmSpan(span: Span): boolean {
  return isLlmCall(span.name, span.attributes);
}

function agentMatches(name: string | null, match: AdapterOptions["agentMatch"]): boolean {
  if (match === undefined) return true;
  if (name === null) return false;
  if (typeof match === "string") return name === match;
  if (Array.isArray(match)) return match.includes(name);
  return (match as RegExp).test(name);
}

function numbers(v: unknown): number[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === "number") ? (v as number[]) : null;
}

function parseJson(v: unknown): unknown {
  if (typeof v !== "string") return null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function responseText(span: Span): string | null {
  const out = parseJson(span.attributes[GEN_AI.outputMessages]);
  if (Array.isArray(out) && out[0] && typeof out[0] === "object") {
    const c = (out[0] as { content?: unknown }).content;
    return typeof c === "string" ? c : null;
  }
  return null;
}

/** Triplets of ONE attempt's spans. Spans may come in any order; sequence ids order them. */
export function spansToTriplets(spans: readonly Span[], options: AdapterOptions = {}): Triplet[] {
  const opts = parseOrThrow(AdapterOptionsSchema, options, "spansToTriplets options");
  const ordered = [...spans].sort((a, b) => a.sequenceId - b.sequenceId);
  const all: Triplet[] = [];
  let last: Triplet | null = null;
  for (const s of ordered) {
    if (isLlmSpan(s)) {
      const agentName = typeof s.attributes[AGL.attrs.agentName] === "string" ? (s.attributes[AGL.attrs.agentName] as string) : null;
      last = {
        rolloutId: s.rolloutId,
        attemptId: s.attemptId,
        sequenceId: s.sequenceId,
        spanId: s.spanId,
        agentName,
        model: (s.attributes[GEN_AI.responseModel] ?? s.attributes[GEN_AI.requestModel] ?? null) as string | null,
        prompt: { tokenIds: numbers(s.attributes[GEN_AI.promptTokenIds]), messages: parseJson(s.attributes[GEN_AI.inputMessages]) },
        response: {
          tokenIds: numbers(s.attributes[GEN_AI.completionTokenIds]),
          logprobs: numbers(s.attributes[GEN_AI.completionLogprobs]),
          text: responseText(s),
        },
        reward: null,
      };
      all.push(last);
      continue;
    }
    const r = primaryReward(s);
    // A reward before any LLM call has no call to credit; later rewards overwrite earlier ones for the same call.
    if (r !== null && last) last.reward = r;
  }
  if (opts.rewardAssignment === "final") {
    const f = finalReward(ordered);
    for (const t of all) t.reward = f;
  }
  return all.filter((t) => agentMatches(t.agentName, opts.agentMatch) && (!opts.requireTokenIds || (t.prompt.tokenIds && t.response.tokenIds)));
}

/** Triplets of the latest attempt of each rollout, in the order of `rolloutIds`. */
export async function adaptRollouts(store: LightningStore, rolloutIds: readonly string[], options: AdapterOptions = {}): Promise<Triplet[]> {
  const out: Triplet[] = [];
  for (const id of rolloutIds) out.push(...spansToTriplets(await store.querySpans({ rolloutId: id, attemptId: "latest" }), options));
  return out;
}

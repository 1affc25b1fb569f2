// The adapter: a rollout's spans -> (prompt, response, reward) triplets, the
// unit the trainer learns from. Rewards attach to the LLM call they follow.
import { z } from "zod";
import { GEN_AI, isLlmCall, parseOrThrow, type Span } from "../types/index.js";
import { parseJsonText } from "../types/json.js";
import type { LightningStore } from "../store/lightning-store.js";
import { primaryReward } from "./rewards.js";
import { assignCredit, CREDIT_MODES, rewardEvents, type CreditFunction } from "./credit.js";
import { TraceTree, type TraceNode } from "./tree.js";

export interface Triplet {
  rolloutId: string;
  attemptId: string;
  /** Sequence id of the LLM span this triplet came from. */
  sequenceId: number;
  spanId: string;
  /** The span this call was made under (an agent or framework span), when it is in the trace. */
  parentId: string | null;
  /** Nearest agent name on the call's span or the spans above it. */
  agentName: string | null;
  model: string | null;
  prompt: { tokenIds: number[] | null; messages: unknown };
  response: { tokenIds: number[] | null; logprobs: number[] | null; text: string | null };
  /** Credit under the adapter's rewardAssignment; null when that rule gives the call none. */
  reward: number | null;
}

const nameMatch = z.union([z.string(), z.array(z.string()), z.instanceof(RegExp)]);

export const AdapterOptionsSchema = z
  .object({
    /**
     * Keep only LLM calls made by these agents (name, list of names, or RegExp). A call belongs to
     * every agent named on it or on a span above it (an agent span holding several calls).
     */
    agentMatch: nameMatch.optional(),
    /**
     * Which spans are the LLM calls: a span name, a list of names, a RegExp on the name, or a
     * predicate; default semconv's rule (isLlmSpan). A call span that holds another call span (a
     * framework's call wrapping the client's) gives way to the inner one.
     */
    llmCallMatch: z.union([nameMatch, z.custom<(span: Span) => boolean>((f) => typeof f === "function")]).optional(),
    /**
     * Credit per call (src/adapter/credit.ts): "matched" (default here, Agent Lightning's adapter rule: a
     * reward goes to the last call before it), "final" (every call gets the episode's final reward; the
     * algorithms' default), "discounted" (return over the calls that follow, with `gamma`), or a function
     * `(calls, rewards) => number[]`.
     */
    rewardAssignment: z
      .union([
        z.enum(CREDIT_MODES),
        z.custom<CreditFunction>((f) => typeof f === "function", "a credit function (calls, rewards) => number[]"),
      ])
      .default("matched"),
    /** Discount over following calls for rewardAssignment "discounted". */
    gamma: z.number().min(0).max(1).default(1),
    /** Drop calls that lack token ids (needed for training, not for analysis). */
    requireTokenIds: z.boolean().default(false),
  })
  .strict();
export type AdapterOptions = z.input<typeof AdapterOptionsSchema>;

/** Is this span an LLM call? semconv's one definition (isLlmCall). */
export function isLlmSpan(span: Span): boolean {
  return isLlmCall(span.name, span.attributes);
}

function nameMatches(name: string, match: z.infer<typeof nameMatch>): boolean {
  if (typeof match === "string") return name === match;
  if (Array.isArray(match)) return match.includes(name);
  return (match as RegExp).test(name);
}

function agentMatches(names: readonly string[], match: AdapterOptions["agentMatch"]): boolean {
  if (match === undefined) return true;
  return names.some((n) => nameMatches(n, match));
}

function callMatcher(match: AdapterOptions["llmCallMatch"]): (span: Span) => boolean {
  if (match === undefined) return isLlmSpan;
  if (typeof match === "function") return match as (span: Span) => boolean;
  return (s) => nameMatches(s.name, match);
}

function numbers(v: unknown): number[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === "number") ? (v as number[]) : null;
}

function responseText(span: Span): string | null {
  const out = parseJsonText(span.attributes[GEN_AI.outputMessages]);
  if (Array.isArray(out) && out[0] && typeof out[0] === "object") {
    const c = (out[0] as { content?: unknown }).content;
    return typeof c === "string" ? c : null;
  }
  return null;
}

/** Triplets of ONE attempt's spans. Spans may come in any order; sequence ids order them. */
export function spansToTriplets(spans: readonly Span[], options: AdapterOptions = {}): Triplet[] {
  const opts = parseOrThrow(AdapterOptionsSchema, options, "spansToTriplets options");
  const tree = new TraceTree(spans);
  const isCall = callMatcher(opts.llmCallMatch);
  const candidates = new Set<TraceNode>();
  for (const n of tree.nodes.values()) if (isCall(n.span)) candidates.add(n);
  const calls: { node: TraceNode; triplet: Triplet }[] = [];
  const rewards: { value: number; sequenceId: number }[] = [];
  for (const n of tree.nodes.values()) {
    if (candidates.has(n)) {
      // The innermost call span is the call: a wrapper's own attributes rarely hold token ids.
      let wraps = false;
      for (const d of tree.descendants(n)) if (candidates.has(d)) wraps = true;
      if (!wraps) calls.push({ node: n, triplet: toTriplet(n.span, n.parent?.span.spanId ?? null, tree.agentNames(n)[0] ?? null) });
      continue;
    }
    const r = primaryReward(n.span);
    if (r !== null) rewards.push({ value: r, sequenceId: n.span.sequenceId });
  }
  // Calls without token ids drop out before credit when training asks for ids: a framework's own record of a
  // call the proxy also recorded (AI SDK provider spans) must not take the reward that follows the call.
  const kept = opts.requireTokenIds ? calls.filter(({ triplet: t }) => t.prompt.tokenIds && t.response.tokenIds) : calls;
  const all = kept.map((c) => c.triplet);
  const credit = assignCredit(all, rewardEvents(all, rewards), opts.rewardAssignment, opts.gamma);
  all.forEach((t, i) => (t.reward = credit[i]));
  return kept.filter(({ node }) => agentMatches(tree.agentNames(node), opts.agentMatch)).map((c) => c.triplet);
}

function toTriplet(s: Span, parentId: string | null, agentName: string | null): Triplet {
  return {
    rolloutId: s.rolloutId,
    attemptId: s.attemptId,
    sequenceId: s.sequenceId,
    spanId: s.spanId,
    parentId,
    agentName,
    model: (s.attributes[GEN_AI.responseModel] ?? s.attributes[GEN_AI.requestModel] ?? null) as string | null,
    prompt: { tokenIds: numbers(s.attributes[GEN_AI.promptTokenIds]), messages: parseJsonText(s.attributes[GEN_AI.inputMessages]) },
    response: {
      tokenIds: numbers(s.attributes[GEN_AI.completionTokenIds]),
      logprobs: numbers(s.attributes[GEN_AI.completionLogprobs]),
      text: responseText(s),
    },
    reward: null,
  };
}

/** Triplets of the latest attempt of each rollout, in the order of `rolloutIds`. */
export async function adaptRollouts(
  store: LightningStore,
  rolloutIds: readonly string[],
  options: AdapterOptions = {},
): Promise<Triplet[]> {
  const out: Triplet[] = [];
  for (const id of rolloutIds) out.push(...spansToTriplets(await store.querySpans({ rolloutId: id, attemptId: "latest" }), options));
  return out;
}

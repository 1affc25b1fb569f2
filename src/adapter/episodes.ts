// Multi-turn episodes as one training sequence. When every call's prompt
// extends the previous call's prompt + response token for token (a chat
// template that re-renders history exactly), the whole episode is one
// sequence: the model's own tokens are trained, the tokens that came from
// outside (tool results, user turns, template glue) are masked out. The
// first call's prompt is the sample's prompt.
import type { Triplet } from "./triplets.js";

/** An episode (or a run of its calls) as one masked sample. */
export interface EpisodeSequence {
  prompt: number[];
  /** Everything after the prompt: each call's response, and the tokens between calls. */
  response: number[];
  /** 1 on tokens the model generated (trained), 0 on tokens inserted between calls. */
  mask: number[];
  /** Logprobs of generated tokens as recorded, 0 on masked tokens (never read); null when a call lacks them. */
  logprobs: number[] | null;
  /** Indices of the calls this sequence covers, in order. */
  calls: number[];
}

export type EpisodeCheck = { ok: true } | { ok: false; reason: string };

function ids(t: Triplet, i: number): { prompt: number[]; response: number[] } | string {
  if (!t.prompt.tokenIds || !t.response.tokenIds) return `call ${i} has no token ids`;
  return { prompt: t.prompt.tokenIds, response: t.response.tokenIds };
}

/**
 * Does each call's prompt start with the previous call's prompt + response? Says where it breaks:
 * a template that drops history, summarises it, or re-tokenizes a reply differently.
 */
export function checkPrefix(calls: readonly Triplet[]): EpisodeCheck {
  if (!calls.length) return { ok: false, reason: "the episode has no calls" };
  let prev: number[] | null = null;
  for (let i = 0; i < calls.length; i++) {
    const c = ids(calls[i], i);
    if (typeof c === "string") return { ok: false, reason: c };
    if (prev) {
      if (c.prompt.length < prev.length)
        return {
          ok: false,
          reason: `call ${i}'s prompt (${c.prompt.length} tokens) is shorter than call ${i - 1}'s prompt + response (${prev.length})`,
        };
      for (let k = 0; k < prev.length; k++)
        if (c.prompt[k] !== prev[k])
          return {
            ok: false,
            reason: `call ${i}'s prompt differs from call ${i - 1}'s prompt + response at token ${k} (${prev[k]} -> ${c.prompt[k]})`,
          };
    }
    prev = [...c.prompt, ...c.response];
  }
  return { ok: true };
}

/**
 * Joins calls [from, to) of an episode into one masked sequence. The caller has checked the prefix
 * property (checkPrefix); a run that starts past call 0 keeps earlier turns in its prompt, untrained.
 */
export function joinCalls(calls: readonly Triplet[], from = 0, to = calls.length): EpisodeSequence {
  if (!(from >= 0 && from < to && to <= calls.length))
    throw new RangeError(`joinCalls: bad range [${from}, ${to}) of ${calls.length} calls`);
  const first = calls[from];
  const prompt = [...first.prompt.tokenIds!];
  const response: number[] = [];
  const mask: number[] = [];
  const logprobs: number[] = [];
  let haveLogprobs = true;
  for (let i = from; i < to; i++) {
    const c = calls[i];
    const gap = c.prompt.tokenIds!.slice(prompt.length + response.length);
    for (const t of gap) {
      response.push(t);
      mask.push(0);
      logprobs.push(0);
    }
    const lp = c.response.logprobs;
    if (!lp || lp.length !== c.response.tokenIds!.length) haveLogprobs = false;
    c.response.tokenIds!.forEach((t, k) => {
      response.push(t);
      mask.push(1);
      logprobs.push(haveLogprobs ? lp![k] : 0);
    });
  }
  return { prompt, response, mask, logprobs: haveLogprobs ? logprobs : null, calls: Array.from({ length: to - from }, (_, k) => from + k) };
}

/**
 * The episode as masked sequences, one per run of consecutive calls with equal `values` (credit or
 * advantage, one per call; the trainer takes one advantage per sequence): one sequence in all under
 * "final" credit, one per call when every call's value differs. Null with the reason when the prefix property breaks; the caller falls back to one
 * sample per call.
 */
export function episodeSequences(
  calls: readonly Triplet[],
  values: readonly number[],
): { sequences: EpisodeSequence[] } | { sequences: null; reason: string } {
  const check = checkPrefix(calls);
  if (!check.ok) return { sequences: null, reason: check.reason };
  if (values.length !== calls.length) throw new RangeError(`episodeSequences: ${values.length} values for ${calls.length} calls`);
  const out: EpisodeSequence[] = [];
  let start = 0;
  for (let i = 1; i <= calls.length; i++) {
    if (i < calls.length && values[i] === values[start]) continue;
    out.push(joinCalls(calls, start, i));
    start = i;
  }
  return { sequences: out };
}

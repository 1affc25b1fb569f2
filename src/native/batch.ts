// Validation and flattening of (prompt, response) batches before anything
// reaches C++: every wrong shape or type throws a ValidationError (a TypeError)
// that names the expected shape.
import { ValidationError } from "../types/errors.js";
import type { NativeBatch } from "./addon.js";

/**
 * A batch of sequences for `policy.logprobs` and `policy.trainStep`.
 *
 * Sequence i is `prompts[i]` followed by `responses[i]` (token ids). Only
 * response tokens are scored and trained; there is no padding: sequences may
 * have any lengths (prompt >= 1 token, prompt + response <= ctx).
 *
 * Per-token arrays (`oldLogprobs`, `refLogprobs`, `mask`) have the shape of
 * `responses`: `number[S][len(responses[i])]`.
 *
 * GRPO needs one advantage per sequence: give `advantages` directly, or
 * `rewards` plus the group of each sequence (`groups`: group ids, or
 * `groupSize`: consecutive runs of that many sequences, as `generate` with
 * `n` returns them).
 */
export interface SequenceBatch {
  prompts: number[][];
  responses: number[][];
  /** One per sequence; overrides rewards. */
  advantages?: number[];
  /** One per sequence; turned into group-relative advantages. */
  rewards?: number[];
  /** Group id per sequence (any integers). */
  groups?: number[];
  /** Alternative to groups: sequences [k*groupSize, (k+1)*groupSize) form group k. */
  groupSize?: number;
  /** Logprobs of the response tokens under the policy that sampled them; default: the current policy (ratio 1). */
  oldLogprobs?: number[][];
  /** Logprobs under the frozen reference (for the KL term); or pass `reference` in the train options. */
  refLogprobs?: number[][];
  /** 1 = train on this response token, 0 = skip it (e.g. tool output inside a response); default all ones. */
  mask?: number[][];
}

function isTokenArray(a: unknown): a is number[] {
  return Array.isArray(a) || a instanceof Int32Array || a instanceof Uint32Array;
}

export function checkTokens(where: string, name: string, rows: unknown, vocab: number, minLen: number): number[][] {
  const issues: string[] = [];
  if (!Array.isArray(rows)) throw new ValidationError(where, [`${name} must be number[][] (an array of token id arrays)`]);
  rows.forEach((r, i) => {
    if (!isTokenArray(r)) {
      issues.push(`${name}[${i}] must be an array of token ids`);
      return;
    }
    if (r.length < minLen) issues.push(`${name}[${i}] needs at least ${minLen} token(s)`);
    for (let j = 0; j < r.length; j++) {
      const t = r[j];
      if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= vocab) {
        issues.push(`${name}[${i}][${j}] must be an integer token id in [0, ${vocab}), got ${String(t)}`);
        break;
      }
    }
  });
  if (issues.length) throw new ValidationError(where, issues.slice(0, 5));
  return rows as number[][];
}

function perToken(where: string, name: string, rows: unknown, responses: number[][]): Float64Array | undefined {
  if (rows === undefined) return undefined;
  const shape = `number[${responses.length}][len(responses[i])]`;
  if (!Array.isArray(rows) || rows.length !== responses.length) throw new ValidationError(where, [`${name} must be ${shape}`]);
  const total = responses.reduce((n, r) => n + r.length, 0);
  const out = new Float64Array(total);
  let at = 0;
  rows.forEach((r: unknown, i) => {
    if (!Array.isArray(r) && !(r instanceof Float32Array) && !(r instanceof Float64Array))
      throw new ValidationError(where, [`${name}[${i}] must be an array of ${responses[i].length} numbers (${shape})`]);
    const row = r as ArrayLike<number>;
    if (row.length !== responses[i].length)
      throw new ValidationError(where, [`${name}[${i}] has ${row.length} values; expected ${responses[i].length} (${shape})`]);
    for (let j = 0; j < row.length; j++) {
      const v = row[j];
      if (typeof v !== "number" || !Number.isFinite(v)) throw new ValidationError(where, [`${name}[${i}][${j}] must be a finite number`]);
      out[at++] = v;
    }
  });
  return out;
}

export function perSequence(where: string, name: string, v: unknown, count: number): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== count || v.some((x) => typeof x !== "number" || !Number.isFinite(x)))
    throw new ValidationError(where, [`${name} must be number[${count}] (one finite number per sequence)`]);
  return v as number[];
}

/** Validates shapes against the model and packs the batch into typed arrays for C++. */
export function flattenBatch(where: string, batch: SequenceBatch, vocab: number, ctx: number): NativeBatch {
  if (batch === null || typeof batch !== "object")
    throw new ValidationError(where, ["batch must be { prompts: number[][], responses: number[][], ... }"]);
  const prompts = checkTokens(where, "prompts", batch.prompts, vocab, 1);
  const responses = checkTokens(where, "responses", batch.responses, vocab, 0);
  if (prompts.length !== responses.length)
    throw new ValidationError(where, [
      `prompts has ${prompts.length} rows but responses has ${responses.length}; expected one response per prompt`,
    ]);
  const S = prompts.length;
  let total = 0;
  for (let i = 0; i < S; i++) {
    const n = prompts[i].length + responses[i].length;
    if (n > ctx) throw new ValidationError(where, [`sequence ${i} has ${n} tokens (prompt + response); the model's ctx is ${ctx}`]);
    total += n;
  }
  const tokens = new Int32Array(total);
  const promptLens = new Int32Array(S);
  const responseLens = new Int32Array(S);
  let at = 0;
  for (let i = 0; i < S; i++) {
    tokens.set(prompts[i], at);
    at += prompts[i].length;
    tokens.set(responses[i], at);
    at += responses[i].length;
    promptLens[i] = prompts[i].length;
    responseLens[i] = responses[i].length;
  }
  const out: NativeBatch = { tokens, promptLens, responseLens };
  const old = perToken(where, "oldLogprobs", batch.oldLogprobs, responses);
  if (old) out.oldLogprobs = old;
  const ref = perToken(where, "refLogprobs", batch.refLogprobs, responses);
  if (ref) out.refLogprobs = ref;
  const mask = perToken(where, "mask", batch.mask, responses);
  if (mask) out.mask = mask;
  return out;
}

/** Splits a flat per-response-token array back into rows shaped like `responses`. */
export function splitRows(flat: ArrayLike<number>, responses: number[][]): number[][] {
  const rows: number[][] = [];
  let at = 0;
  for (const r of responses) {
    rows.push(Array.from({ length: r.length }, (_, j) => flat[at + j]));
    at += r.length;
  }
  return rows;
}

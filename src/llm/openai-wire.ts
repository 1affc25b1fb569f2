// OpenAI's response shapes for a generated result: the chat / text completion
// body, and the SSE chunks a streaming client gets (tool-call deltas exactly
// as OpenAI sends them: the call's id and name first, then its arguments in
// pieces). Token ids and logprobs ride along vLLM-style for training clients.
import { randomUUID } from "node:crypto";
import type { GeneratedChoice, GenerateResult } from "./backend.js";

export type Kind = "chat" | "text_completion";

export function usage(r: GenerateResult) {
  const completion = r.choices.reduce((n, c) => n + c.tokenIds.length, 0);
  return { prompt_tokens: r.promptTokenIds.length, completion_tokens: completion, total_tokens: r.promptTokenIds.length + completion };
}

function logprobsBody(lps: number[]) {
  return { content: lps.map((logprob) => ({ token: "", logprob, bytes: null, top_logprobs: [] })) };
}

export function chatMessage(c: GeneratedChoice) {
  return c.toolCalls?.length
    ? { role: "assistant" as const, content: c.text || null, tool_calls: c.toolCalls, refusal: null }
    : { role: "assistant" as const, content: c.text, refusal: null };
}

export function completionBody(kind: Kind, r: GenerateResult) {
  return {
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    prompt_token_ids: r.promptTokenIds,
    choices: r.choices.map((c, index) => ({
      index,
      ...(kind === "chat" ? { message: chatMessage(c) } : { text: c.text }),
      finish_reason: c.finishReason,
      token_ids: c.tokenIds,
      logprobs: logprobsBody(c.logprobs),
    })),
    usage: usage(r),
  };
}

/** Splits text into pieces of about `size` characters without cutting a surrogate pair. */
export function slices(s: string, size: number): string[] {
  const chars = [...s];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(""));
  return out;
}

/** The `data:` payloads of an OpenAI stream for `r` (the caller adds the framing and `[DONE]`). */
export function streamChunks(kind: Kind, r: GenerateResult, includeUsage: boolean): unknown[] {
  const out: unknown[] = [];
  const base = {
    id: `chatcmpl-${randomUUID()}`,
    object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: r.model,
  };
  r.choices.forEach((c, index) => {
    const first = (k: number) => (index === 0 && k === 0 ? { prompt_token_ids: r.promptTokenIds } : {});
    if (kind === "chat" && c.toolCalls?.length) {
      // Text before the calls (if any), then each call: id, type and name with empty arguments, then the arguments.
      const deltas: Record<string, unknown>[] = [];
      if (c.text) deltas.push({ role: "assistant", content: c.text });
      c.toolCalls.forEach((call, i) => {
        const head = { index: i, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } };
        deltas.push(deltas.length ? { tool_calls: [head] } : { role: "assistant", content: null, tool_calls: [head] });
        for (const piece of slices(call.function.arguments, 16))
          deltas.push({ tool_calls: [{ index: i, function: { arguments: piece } }] });
      });
      deltas.forEach((delta, k) => {
        // All the choice's ids and logprobs ride on its first chunk (clients concatenate them).
        const ids = k === 0 ? { token_ids: c.tokenIds, logprobs: logprobsBody(c.logprobs) } : {};
        out.push({ ...base, ...first(k), choices: [{ index, delta, ...ids, finish_reason: null }] });
      });
    } else {
      // One chunk per generated token (its text, id and logprob), then the choice's finish chunk.
      const pieces = c.tokenTexts && c.tokenTexts.length === c.tokenIds.length ? c.tokenTexts : [c.text];
      pieces.forEach((piece, k) => {
        const perToken = pieces.length === c.tokenIds.length;
        const ids = perToken ? [c.tokenIds[k]] : c.tokenIds;
        const lps = perToken ? c.logprobs.slice(k, k + 1) : c.logprobs;
        const delta = kind === "chat" ? { delta: k === 0 ? { role: "assistant", content: piece } : { content: piece } } : { text: piece };
        out.push({
          ...base,
          ...first(k),
          choices: [{ index, ...delta, token_ids: ids, logprobs: logprobsBody(lps), finish_reason: null }],
        });
      });
    }
    out.push({ ...base, choices: [{ index, ...(kind === "chat" ? { delta: {} } : { text: "" }), finish_reason: c.finishReason }] });
  });
  if (includeUsage) out.push({ ...base, choices: [], usage: usage(r) });
  return out;
}

// Forwards completions to another OpenAI-compatible server (vLLM, a hosted
// API). The OpenAI routes pass the client's request through unchanged (every
// field, known to Arclight or not) and hand back the upstream's answer
// unchanged, streamed or not; the proxy records what came back. Token ids and
// logprobs come back when the upstream returns them: vLLM does when asked
// (`requestTokenIds`).
import { ValidationError } from "../types/errors.js";
import type { ToolCall } from "../tokenizer/tools.js";
import type { CompletionBackend, ForwardedResponse, GeneratedChoice, GenerateRequest, GenerateResult } from "./backend.js";

export interface UpstreamOptions {
  baseURL: string;
  apiKey?: string;
  models: string[];
  maxPromptTokens?: number;
  /**
   * Ask for token ids and logprobs (vLLM's `return_token_ids: true`, and `logprobs: true` when the client did not
   * set logprobs) so the traces can train. Off by default: hosted APIs refuse fields they do not know.
   */
  requestTokenIds?: boolean;
}

interface UpstreamChoice {
  message?: { content?: string | null; tool_calls?: ToolCall[] };
  text?: string;
  finish_reason?: string | null;
  token_ids?: number[];
  logprobs?: { content?: { logprob: number }[] | null; token_logprobs?: number[] } | null;
}
interface UpstreamBody {
  model?: string;
  prompt_token_ids?: number[];
  choices?: UpstreamChoice[];
  error?: { message?: string };
}

const finish = (f: string | null | undefined): GeneratedChoice["finishReason"] =>
  f === "length" ? "length" : f === "tool_calls" ? "tool_calls" : "stop";

/** What the proxy records of an upstream chat / completion body. */
export function resultFromBody(json: UpstreamBody, chat: boolean, model: string): GenerateResult {
  return {
    model: json.model ?? model,
    promptTokenIds: json.prompt_token_ids ?? [],
    choices: (json.choices ?? []).map((c) => ({
      text: (chat ? c.message?.content : c.text) ?? "",
      ...(c.message?.tool_calls?.length ? { toolCalls: c.message.tool_calls } : {}),
      tokenIds: c.token_ids ?? [],
      logprobs: c.logprobs?.content?.map((t) => t.logprob) ?? c.logprobs?.token_logprobs ?? [],
      finishReason: finish(c.finish_reason),
    })),
  };
}

/** Folds an OpenAI SSE stream (as forwarded) into the result it describes: text, tool-call deltas, ids, logprobs. */
export class StreamAccumulator {
  private buf = "";
  private readonly decoder = new TextDecoder();
  private model: string;
  private promptTokenIds: number[] = [];
  private readonly choices = new Map<number, GeneratedChoice & { calls: Map<number, ToolCall> }>();

  constructor(
    private readonly chat: boolean,
    model: string,
  ) {
    this.model = model;
  }

  push(bytes: Uint8Array): void {
    this.buf += this.decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (!data || data === "[DONE]") continue;
      try {
        this.chunk(JSON.parse(data) as Record<string, unknown>);
      } catch {
        // a line that is not JSON is the upstream's business; the client got it as sent
      }
    }
  }

  private chunk(c: Record<string, unknown>): void {
    if (typeof c.model === "string") this.model = c.model;
    if (Array.isArray(c.prompt_token_ids)) this.promptTokenIds = c.prompt_token_ids as number[];
    for (const ch of (c.choices as (UpstreamChoice & {
      index?: number;
      delta?: {
        content?: string | null;
        tool_calls?: (Partial<ToolCall> & { index?: number; function?: Partial<ToolCall["function"]> })[];
      };
    })[]) ?? []) {
      const i = ch.index ?? 0;
      let acc = this.choices.get(i);
      if (!acc) this.choices.set(i, (acc = { text: "", tokenIds: [], logprobs: [], finishReason: "stop", calls: new Map() }));
      acc.text += (this.chat ? ch.delta?.content : ch.text) ?? "";
      for (const t of ch.delta?.tool_calls ?? []) {
        const k = t.index ?? 0;
        const call = acc.calls.get(k) ?? { id: "", type: "function" as const, function: { name: "", arguments: "" } };
        if (t.id) call.id = t.id;
        if (t.function?.name) call.function.name += t.function.name;
        if (t.function?.arguments) call.function.arguments += t.function.arguments;
        acc.calls.set(k, call);
      }
      if (Array.isArray(ch.token_ids)) acc.tokenIds.push(...ch.token_ids);
      const lps = ch.logprobs?.content?.map((t) => t.logprob) ?? ch.logprobs?.token_logprobs;
      if (lps) acc.logprobs.push(...lps);
      if (ch.finish_reason) acc.finishReason = finish(ch.finish_reason);
    }
  }

  result(): GenerateResult {
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, { calls, ...c }]) =>
        calls.size ? { ...c, toolCalls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, t]) => t) } : c,
      );
    return { model: this.model, promptTokenIds: this.promptTokenIds, choices };
  }
}

export class UpstreamBackend implements CompletionBackend {
  readonly maxPromptTokens: number;
  constructor(private readonly opts: UpstreamOptions) {
    const issues: string[] = [];
    if (typeof opts?.baseURL !== "string" || !/^https?:\/\//.test(opts.baseURL))
      issues.push(`baseURL must be http(s), got ${String(opts?.baseURL)}`);
    if (!Array.isArray(opts?.models) || !opts.models.length || opts.models.some((m) => typeof m !== "string" || !m))
      issues.push("models must be a non-empty array of model names");
    if (issues.length) throw new ValidationError("UpstreamBackend", issues);
    this.maxPromptTokens = opts.maxPromptTokens ?? 1 << 20;
  }

  models(): string[] {
    return this.opts.models;
  }

  // Without the upstream's tokenizer, four characters a token is the usual estimate.
  countPromptTokens(req: Pick<GenerateRequest, "messages" | "prompt">): number {
    const chars = req.messages ? req.messages.reduce((n, m) => n + m.content.length, 0) : (req.prompt ?? "").length;
    return Math.ceil(chars / 4);
  }

  private post(route: "chat/completions" | "completions", body: unknown, signal?: AbortSignal): Promise<Response> {
    return fetch(`${this.opts.baseURL.replace(/\/$/, "")}/${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal,
    });
  }

  private withTokenIds(chat: boolean, body: Record<string, unknown>): Record<string, unknown> {
    if (!this.opts.requestTokenIds) return body;
    // Chat takes logprobs as a boolean; text completions as a count of alternatives (0: the sampled token's alone).
    return { ...body, return_token_ids: body.return_token_ids ?? true, logprobs: body.logprobs ?? (chat ? true : 0) };
  }

  /** Sends the client's body as it came (plus the token-id request when enabled) and returns the answer unread. */
  async forward(kind: "chat" | "text_completion", body: Record<string, unknown>, signal?: AbortSignal): Promise<ForwardedResponse> {
    const res = await this.post(kind === "chat" ? "chat/completions" : "completions", this.withTokenIds(kind === "chat", body), signal);
    return {
      status: res.status,
      contentType: res.headers.get("content-type") ?? "application/json",
      body: res.body as AsyncIterable<Uint8Array> | null,
    };
  }

  /** A request Arclight built (the Messages API route): sent as an OpenAI request, tools included. */
  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const chat = !!req.messages;
    const body = this.withTokenIds(chat, {
      model: req.model,
      ...(chat ? { messages: req.messages } : { prompt: req.prompt }),
      n: req.n,
      temperature: req.temperature,
      top_p: req.topP,
      // vLLM's name for it; an upstream without top-k refuses it by name rather than sampling otherwise
      ...(req.topK ? { top_k: req.topK } : {}),
      max_tokens: req.maxTokens,
      ...(req.stop.length ? { stop: req.stop } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(req.tools?.length ? { tools: req.tools } : {}),
      ...(req.toolChoice ? { tool_choice: req.toolChoice } : {}),
      ...(req.parallelToolCalls !== undefined ? { parallel_tool_calls: req.parallelToolCalls } : {}),
    });
    const res = await this.post(chat ? "chat/completions" : "completions", body, req.signal);
    const json = (await res.json().catch(() => null)) as UpstreamBody | null;
    if (!res.ok || !json) throw new Error(`upstream ${res.status}: ${json?.error?.message ?? res.statusText}`);
    return resultFromBody(json, chat, req.model);
  }
}

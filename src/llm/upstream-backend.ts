// Forwards completions to another OpenAI-compatible server (vLLM, a hosted
// API). Token ids and logprobs come back only when the upstream returns them.
import type { CompletionBackend, GenerateRequest, GenerateResult } from "./backend.js";

export interface UpstreamOptions {
  baseURL: string;
  apiKey?: string;
  models: string[];
  maxPromptTokens?: number;
}

interface UpstreamChoice {
  message?: { content?: string | null };
  text?: string;
  finish_reason?: string | null;
  token_ids?: number[];
  logprobs?: { content?: { logprob: number }[] | null; token_logprobs?: number[] } | null;
}

export class UpstreamBackend implements CompletionBackend {
  readonly maxPromptTokens: number;
  constructor(private readonly opts: UpstreamOptions) {
    if (!/^https?:\/\//.test(opts.baseURL)) throw new TypeError(`UpstreamBackend: baseURL must be http(s), got ${opts.baseURL}`);
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

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const chat = !!req.messages;
    const body = {
      model: req.model,
      ...(chat ? { messages: req.messages } : { prompt: req.prompt }),
      n: req.n,
      temperature: req.temperature,
      top_p: req.topP,
      max_tokens: req.maxTokens,
      ...(req.stop.length ? { stop: req.stop } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      logprobs: true,
    };
    const res = await fetch(`${this.opts.baseURL.replace(/\/$/, "")}/${chat ? "chat/completions" : "completions"}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal: req.signal,
    });
    const json = (await res.json().catch(() => null)) as { model?: string; prompt_token_ids?: number[]; choices?: UpstreamChoice[]; error?: { message?: string } } | null;
    if (!res.ok || !json) throw new Error(`upstream ${res.status}: ${json?.error?.message ?? res.statusText}`);
    return {
      model: json.model ?? req.model,
      promptTokenIds: json.prompt_token_ids ?? [],
      choices: (json.choices ?? []).map((c) => ({
        text: (chat ? c.message?.content : c.text) ?? "",
        tokenIds: c.token_ids ?? [],
        logprobs: c.logprobs?.content?.map((t) => t.logprob) ?? c.logprobs?.token_logprobs ?? [],
        finishReason: c.finish_reason === "length" ? "length" : "stop",
      })),
    };
  }
}

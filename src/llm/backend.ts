// What the proxy needs from whatever produces completions: the native
// policy (with a tokenizer) or an upstream OpenAI-compatible server.

import type { ChatMessage } from "../tokenizer/tokenizer.js";

export interface GenerateRequest {
  model: string;
  /** Exactly one of messages (chat) or prompt (text completion). */
  messages?: ChatMessage[];
  prompt?: string;
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  stop: string[];
  seed?: number;
  signal?: AbortSignal;
}

export interface GeneratedChoice {
  text: string;
  /** Generated ids, an ending stop token included (training must learn to stop). */
  tokenIds: number[];
  /** Log-probability of each generated token under the policy. */
  logprobs: number[];
  finishReason: "stop" | "length";
  /** Text each token adds (a token that ends mid-character adds "" and the next carries it); joins to `text`. */
  tokenTexts?: string[];
}

export interface GenerateResult {
  model: string;
  promptTokenIds: number[];
  choices: GeneratedChoice[];
}

export interface CompletionBackend {
  /** Model names this backend answers to. */
  models(): string[];
  /** Prompt length limit in tokens (oversize prompts are rejected before generation). */
  readonly maxPromptTokens: number;
  countPromptTokens(req: Pick<GenerateRequest, "messages" | "prompt">): number;
  generate(req: GenerateRequest): Promise<GenerateResult>;
}

/** The slice of a tokenizer the policy backend uses (src/tokenizer implements it). */
export interface TokenizerLike {
  encode(text: string, opts?: { allowSpecial?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string;
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
  readonly eosId: number | null;
}

/** The slice of the native policy the backend uses (`agl.native.Policy` implements it). */
export interface GeneratorLike {
  readonly config: { ctx: number };
  generate(
    prompts: number[][],
    opts: { n?: number; temperature?: number; topP?: number; maxTokens?: number; stop?: number[]; seed?: number; signal?: AbortSignal },
  ): Promise<{ tokens: number[][]; logprobs: number[][] }>;
}

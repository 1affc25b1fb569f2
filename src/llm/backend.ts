// What the proxy needs from whatever produces completions: the native
// policy (with a tokenizer) or an upstream OpenAI-compatible server.

import type { RenderOptions } from "../tokenizer/chat-template.js";
import type { ChatTurn, ToolCall, ToolSpec } from "../tokenizer/tools.js";

/** OpenAI's tool_choice: "auto" (the model decides), "none", "required" (some tool), or one named function. */
export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

export interface GenerateRequest {
  model: string;
  /** Exactly one of messages (chat) or prompt (text completion). */
  messages?: ChatTurn[];
  prompt?: string;
  /** Function tools the model may call (chat only). */
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  /** false: at most one tool call per reply. */
  parallelToolCalls?: boolean;
  /** Prefix of the ids tool_call ids get ("call_" for OpenAI, "toolu_" for Anthropic). */
  toolCallIdPrefix?: string;
  /** Sample only among the k most likely tokens (0 or absent: all). */
  topK?: number;
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
  finishReason: "stop" | "length" | "tool_calls";
  /** The stop string that ended the reply, when one did. */
  stopSequence?: string;
  /** Tool calls parsed out of the reply (then `text` holds only the text around them). */
  toolCalls?: ToolCall[];
  /** Why <tool_call> markup in the reply was not turned into tool calls (it stays in `text`). */
  toolCallError?: string;
  /** Text each token adds (a token that ends mid-character adds "" and the next carries it); joins to `text`. */
  tokenTexts?: string[];
}

export interface GenerateResult {
  model: string;
  promptTokenIds: number[];
  choices: GeneratedChoice[];
  /** How the prompt ids were made: how many came verbatim from earlier calls, and whether re-tokenizing the text would have given other ids. */
  promptReuse?: { reusedTokens: number; drift: boolean };
}

export interface CompletionBackend {
  /** Model names this backend answers to. */
  models(): string[];
  /** Prompt length limit in tokens (oversize prompts are rejected before generation). */
  readonly maxPromptTokens: number;
  countPromptTokens(req: Pick<GenerateRequest, "messages" | "prompt">): number;
  generate(req: GenerateRequest): Promise<GenerateResult>;
  /**
   * Backends that relay to another OpenAI-compatible server take the client's body as it came on the OpenAI
   * routes (nothing dropped or rebuilt) and hand back the upstream's answer unread.
   */
  forward?(kind: "chat" | "text_completion", body: Record<string, unknown>, signal?: AbortSignal): Promise<ForwardedResponse>;
}

/** The upstream's answer to a forwarded request, as it came. */
export interface ForwardedResponse {
  status: number;
  contentType: string;
  body: AsyncIterable<Uint8Array> | null;
}

/** The slice of a tokenizer the policy backend uses (src/tokenizer implements it). */
export interface TokenizerLike {
  encode(text: string, opts?: { allowSpecial?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string;
  applyChatTemplate(messages: readonly ChatTurn[], opts?: RenderOptions): string;
  readonly eosId: number | null;
  /** Arclight's own tokenizers name their built-in template; those render tools (Qwen2.5 markup). */
  readonly chatTemplate?: string;
  /** Ids that end a reply besides eos (`<|im_end|>` under ChatML). */
  readonly stopIds?: readonly number[];
}

/** The slice of the native policy the backend uses (`agl.native.Policy` implements it). */
export interface GeneratorLike {
  readonly config: { ctx: number };
  generate(
    prompts: number[][],
    opts: {
      n?: number;
      temperature?: number;
      topP?: number;
      topK?: number;
      maxTokens?: number;
      stop?: number[];
      seed?: number;
      signal?: AbortSignal;
    },
  ): Promise<{ tokens: number[][]; logprobs: number[][] }>;
}

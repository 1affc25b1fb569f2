// The tokenizer contract every model-facing piece (native policy, LLM proxy,
// algorithms) uses to turn chat messages into token ids and back.

export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /** Match special tokens (e.g. `<|im_end|>`) in the text. Off by default so user text cannot inject control tokens. */
  allowSpecial?: boolean;
  /**
   * Add what the tokenizer's post-processor puts around a text (Llama 3's
   * <|begin_of_text|>), as HF's add_special_tokens does. Off by default: chat
   * templates already write those tokens, and GPT-2 and Qwen2 add none.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens from the output text. */
  skipSpecial?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the opening of an assistant turn so the model writes the reply. */
  addGenerationPrompt?: boolean;
  /** System message put first when the conversation has none (BpeTokenizer fills it from a Qwen2-style chat_template). */
  defaultSystem?: string;
}

/** `chatml`: Qwen2's `<|im_start|>role\ncontent<|im_end|>\n`; `plain`: `role: content\n` for GPT-2 / byte-level models. */
export type ChatTemplateName = "chatml" | "plain";

export interface Tokenizer {
  readonly kind: "byte" | "bpe";
  /** One past the largest id, so ids are in [0, vocabSize). */
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  /** Ids that end a generation: eos, plus `<|im_end|>` under the ChatML template. */
  readonly stopIds: readonly number[];
  readonly chatTemplate: ChatTemplateName;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** Id of a token string (special tokens by content, BPE tokens in their byte-level spelling), or undefined. */
  tokenId(token: string): number | undefined;
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string;
  /** applyChatTemplate then encode with special tokens allowed. */
  encodeChat(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): number[];
}

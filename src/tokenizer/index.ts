// Tokenizers: the built-in byte-level one, byte-level BPE from HF tokenizer.json, chat templates.
//
// Choices worth knowing:
// - encode() leaves special-token strings in user text as plain text unless
//   { allowSpecial: true }; encodeChat() allows them, since the template wrote them.
// - A tokenizer's own template is ChatML when the HF chat_template (or the
//   vocabulary) uses <|im_start|>, plain `role: content\n` otherwise, with a
//   Qwen2-style default system prompt read from it; both render tools in
//   Qwen2.5's markup. JinjaChatTemplate executes a model's real template
//   (@huggingface/jinja) when exact fidelity matters (the LLM proxy takes one).
// - tokenizer.json components outside GPT-2/Qwen2/Llama 3 byte-level BPE
//   (WordPiece, byte_fallback, Metaspace, Lowercase, ...) are rejected with a
//   ValidationError rather than approximated. A TemplateProcessing
//   post-processor (Llama 3's BOS) is applied only with { addSpecialTokens }.
//   Added tokens' lstrip/rstrip/single_word flags are ignored (none of the
//   three families sets them).
// - Checked token for token against js-tiktoken and @huggingface/tokenizers
//   (test/tokenizer-peer.test.ts); where those JS peers read \s as JavaScript
//   does (U+FEFF), Arclight follows the Rust tokenizers and tiktoken.
export type { ChatMessage, ChatTemplateName, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.js";
export { ByteTokenizer, type ByteTokenizerOptions } from "./byte-tokenizer.js";
export { BpeTokenizer, type AddedToken, type BpeOptions } from "./bpe.js";
export { renderChat, builtinTemplate, templateFromJinja, type ChatTemplate, type RenderOptions } from "./chat-template.js";
export { JinjaChatTemplate, type JinjaTemplateOptions } from "./jinja-template.js";
export type { ChatTurn, ToolCall, ToolSpec } from "./tools.js";
export { trainBpe, type TrainBpeOptions, type TokenizerJson } from "./train-bpe.js";

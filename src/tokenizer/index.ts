// Tokenizers: the built-in byte-level one, byte-level BPE from HF tokenizer.json, chat templates.
export type { ChatMessage, ChatTemplateName, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.js";
export { ByteTokenizer, BYTE_SPECIALS, type ByteTokenizerOptions } from "./byte-tokenizer.js";
export { BpeTokenizer, type AddedToken, type BpeOptions } from "./bpe.js";
export { renderChat, templateFromJinja, CHATML_START, CHATML_END } from "./chat-template.js";
export { trainBpe, type TrainBpeOptions, type TokenizerJson } from "./train-bpe.js";
export { GPT2_PATTERN, QWEN2_PATTERN_HF, compilePattern, pretokenize } from "./pretokenize.js";
export { BYTE_TO_CHAR, CHAR_TO_BYTE, toByteLevel } from "./byte-level.js";

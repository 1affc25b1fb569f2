// The built-in byte-level tokenizer: ids 0..255 are the UTF-8 bytes, then a
// few special tokens. Needs no files, so tiny policies and tests start from it.
import { ValidationError } from "../types/errors.js";
import { CHATML_END, CHATML_START, renderChat } from "./chat-template.js";
import { SpecialSplitter } from "./pretokenize.js";
import type { ChatMessage, ChatTemplateName, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.js";
import { checkIds, checkText } from "./validate.js";

export const BYTE_SPECIALS = ["<|endoftext|>", CHATML_START, CHATML_END, "<|pad|>"] as const;

export interface ByteTokenizerOptions {
  /** Default "plain"; "chatml" adds `<|im_end|>` to the stop ids. */
  chatTemplate?: ChatTemplateName;
}

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: it is text the ids spell, not a byte-order mark to strip.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

export class ByteTokenizer implements Tokenizer {
  readonly kind = "byte" as const;
  readonly vocabSize = 256 + BYTE_SPECIALS.length;
  /** `<|endoftext|>` = 256. */
  readonly eosId = 256;
  readonly imStartId = 257;
  readonly imEndId = 258;
  readonly padId = 259;
  readonly chatTemplate: ChatTemplateName;
  readonly stopIds: readonly number[];
  private readonly splitter = new SpecialSplitter(BYTE_SPECIALS);

  constructor(opts: ByteTokenizerOptions = {}) {
    const t = opts.chatTemplate ?? "plain";
    if (t !== "plain" && t !== "chatml")
      throw new ValidationError("ByteTokenizer", [`chatTemplate must be "plain" or "chatml", got ${String(t)}`]);
    this.chatTemplate = t;
    this.stopIds = t === "chatml" ? [this.eosId, this.imEndId] : [this.eosId];
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    checkText("ByteTokenizer.encode", text);
    const out: number[] = [];
    const segments = opts.allowSpecial ? this.splitter.split(text) : [{ text, special: false }];
    for (const seg of segments) {
      if (seg.special) out.push(256 + BYTE_SPECIALS.indexOf(seg.text as (typeof BYTE_SPECIALS)[number]));
      else for (const b of encoder.encode(seg.text)) out.push(b);
    }
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const arr = checkIds("ByteTokenizer.decode", ids, () => true, this.vocabSize);
    let out = "";
    let start = 0;
    // Decode each run of byte ids in one call; specials break the runs.
    for (let i = 0; i <= arr.length; i++) {
      if (i < arr.length && arr[i] < 256) continue;
      if (i > start) out += decoder.decode(Uint8Array.from(arr.slice(start, i)));
      if (i < arr.length && !opts.skipSpecial) out += BYTE_SPECIALS[arr[i] - 256];
      start = i + 1;
    }
    return out;
  }

  tokenId(token: string): number | undefined {
    checkText("ByteTokenizer.tokenId", token);
    const s = BYTE_SPECIALS.indexOf(token as (typeof BYTE_SPECIALS)[number]);
    if (s >= 0) return 256 + s;
    const bytes = encoder.encode(token);
    return bytes.length === 1 ? bytes[0] : undefined;
  }

  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return renderChat(this.chatTemplate, messages, opts);
  }

  encodeChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { allowSpecial: true });
  }
}

// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2 and Qwen2 formats):
// added/special tokens are cut out first, the rest is normalized, split by the
// pre-tokenizer regexes, mapped to GPT-2's byte alphabet and merged by rank.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ValidationError } from "../types/errors.js";
import { BYTE_TO_CHAR, fromByteLevel, toByteLevel } from "./byte-level.js";
import { CHATML_END, CHATML_START, renderChat, templateFromJinja } from "./chat-template.js";
import { GPT2_PATTERN, SpecialSplitter, compilePattern, pretokenize } from "./pretokenize.js";
import type { ChatMessage, ChatTemplateName, ChatTemplateOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./tokenizer.js";
import { checkIds, checkText } from "./validate.js";

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export interface BpeOptions {
  /** Overrides the eos token (default: tokenizer_config.json's eos_token, else `<|endoftext|>`, `<|im_end|>`, `<|end_of_text|>` or `</s>`). */
  eosToken?: string;
  /** Overrides the pad token (default: tokenizer_config.json's pad_token, else eos). */
  padToken?: string;
  /** Overrides the chat template (default: ChatML when tokenizer_config's chat_template or the vocab uses `<|im_start|>`, else plain). */
  chatTemplate?: ChatTemplateName;
  /** Contents of tokenizer_config.json, when not read from disk by fromFile. */
  tokenizerConfig?: unknown;
  /** Pre-tokenized words remembered (default 50k); the cache is cleared when full. */
  cacheSize?: number;
  /** Words longer than this (in bytes) use the O(n log n) heap merge instead of the quadratic scan. Default 48. */
  longWord?: number;
}

const WHERE = "tokenizer.json";
// ignoreBOM keeps a leading U+FEFF: it is text the ids spell, not a byte-order mark to strip.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);

function fail(...issues: string[]): never {
  throw new ValidationError(WHERE, issues);
}

function parseNormalizer(n: unknown): (s: string) => string {
  if (n === null || n === undefined) return (s) => s;
  if (!isRec(n)) fail("normalizer must be an object or null");
  switch (n.type) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD": {
      const form = n.type;
      return (s) => s.normalize(form);
    }
    case "Sequence": {
      if (!Array.isArray(n.normalizers)) fail("Sequence normalizer needs a normalizers array");
      const fns = n.normalizers.map(parseNormalizer);
      return (s) => fns.reduce((acc, f) => f(acc), s);
    }
    default:
      fail(`normalizer type ${JSON.stringify(n.type)} is not supported (NFC, NFD, NFKC, NFKD, Sequence are)`);
  }
}

interface PreTok {
  steps: RegExp[];
  addPrefixSpace: boolean;
  byteLevel: boolean;
}

function parsePreTokenizer(p: unknown, acc: PreTok = { steps: [], addPrefixSpace: false, byteLevel: false }): PreTok {
  if (p === null || p === undefined) return acc;
  if (!isRec(p)) fail("pre_tokenizer must be an object or null");
  switch (p.type) {
    case "ByteLevel":
      acc.byteLevel = true;
      if (p.add_prefix_space === true) acc.addPrefixSpace = true;
      if (p.use_regex !== false) acc.steps.push(compilePattern(GPT2_PATTERN));
      return acc;
    case "Split": {
      const pat = p.pattern;
      if (!isRec(pat)) fail("Split pre_tokenizer needs pattern {Regex} or {String}");
      if (p.behavior !== "Isolated" || p.invert === true)
        fail(
          `Split pre_tokenizer with behavior ${JSON.stringify(p.behavior)}${p.invert ? " and invert" : ""} is not supported (Isolated is)`,
        );
      if (typeof pat.Regex === "string") acc.steps.push(compilePattern(pat.Regex));
      else if (typeof pat.String === "string") acc.steps.push(new RegExp(pat.String.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu"));
      else fail("Split pre_tokenizer needs pattern {Regex} or {String}");
      return acc;
    }
    case "Sequence":
      if (!Array.isArray(p.pretokenizers)) fail("Sequence pre_tokenizer needs a pretokenizers array");
      for (const q of p.pretokenizers) parsePreTokenizer(q, acc);
      return acc;
    default:
      fail(`pre_tokenizer type ${JSON.stringify(p.type)} is not supported (ByteLevel, Split, Sequence are)`);
  }
}

// What the post-processor adds around a single sequence: Llama 3 puts
// <|begin_of_text|> first through TemplateProcessing; ByteLevel adds nothing.
interface Template {
  before: string[];
  after: string[];
}

function parsePostProcessor(p: unknown, acc: Template = { before: [], after: [] }): Template {
  if (p === null || p === undefined) return acc;
  if (!isRec(p)) fail("post_processor must be an object or null");
  switch (p.type) {
    case "ByteLevel":
      return acc;
    case "Sequence":
      if (!Array.isArray(p.processors)) fail("Sequence post_processor needs a processors array");
      for (const q of p.processors) parsePostProcessor(q, acc);
      return acc;
    case "TemplateProcessing": {
      if (acc.before.length || acc.after.length) fail("only one TemplateProcessing post_processor is supported");
      if (!Array.isArray(p.single)) fail("TemplateProcessing post_processor needs a single template array");
      let seenA = false;
      for (const piece of p.single) {
        if (isRec(piece) && isRec(piece.SpecialToken) && typeof piece.SpecialToken.id === "string") {
          (seenA ? acc.after : acc.before).push(piece.SpecialToken.id);
        } else if (isRec(piece) && isRec(piece.Sequence) && piece.Sequence.id === "A" && !seenA) {
          seenA = true;
        } else {
          fail(`TemplateProcessing post_processor piece ${JSON.stringify(piece)} is not supported (special tokens around one $A are)`);
        }
      }
      if (!seenA) fail("TemplateProcessing post_processor's single template has no $A sequence");
      const specials = isRec(p.special_tokens) ? p.special_tokens : {};
      for (const name of [...acc.before, ...acc.after]) {
        const entry = specials[name];
        if (!isRec(entry) || !Array.isArray(entry.ids) || entry.ids.length !== 1)
          fail(`TemplateProcessing post_processor token ${JSON.stringify(name)} must map to exactly one id`);
      }
      return acc;
    }
    default:
      fail(`post_processor type ${JSON.stringify(p.type)} is not supported (ByteLevel, TemplateProcessing around $A, Sequence are)`);
  }
}

function readEosLike(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isRec(v) && typeof v.content === "string") return v.content;
  return undefined;
}

export class BpeTokenizer implements Tokenizer {
  readonly kind = "bpe" as const;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly stopIds: readonly number[];
  readonly chatTemplate: ChatTemplateName;
  readonly addedTokens: readonly AddedToken[];
  /** System prompt the model's chat_template inserts when a conversation has none (Qwen2-Instruct's), if any. */
  readonly defaultSystem: string | undefined;

  private readonly vocab = new Map<string, number>();
  private readonly idToToken: (string | undefined)[] = [];
  private readonly ranks = new Map<string, number>();
  private readonly added = new Map<string, AddedToken>();
  private readonly idToAdded = new Map<number, AddedToken>();
  private readonly splitAll: SpecialSplitter;
  private readonly splitPlain: SpecialSplitter;
  private readonly normalize: (s: string) => string;
  private readonly pre: PreTok;
  private readonly ignoreMerges: boolean;
  private readonly prefixIds: readonly number[];
  private readonly suffixIds: readonly number[];
  // Keyed by the pre-tokenized piece as typed, so a hit skips the byte mapping too.
  private readonly cache = new Map<string, number[]>();
  private readonly idBytes: (number[] | null | undefined)[] = [];
  private readonly cacheSize: number;
  private readonly longWord: number;

  /** Reads tokenizer.json, and tokenizer_config.json beside it when present (eos, pad, chat template). */
  static fromFile(path: string, opts: BpeOptions = {}): BpeTokenizer {
    if (typeof path !== "string" || path.length === 0)
      throw new ValidationError("BpeTokenizer.fromFile", ["path must be a non-empty string"]);
    const read = (p: string): unknown => {
      let text: string;
      try {
        text = readFileSync(p, "utf8");
      } catch (e) {
        throw new ValidationError("BpeTokenizer.fromFile", [`cannot read ${p}: ${(e as Error).message}`]);
      }
      try {
        return JSON.parse(text);
      } catch (e) {
        throw new ValidationError("BpeTokenizer.fromFile", [`${p} is not valid JSON: ${(e as Error).message}`]);
      }
    };
    const json = read(path);
    const cfgPath = join(dirname(path), "tokenizer_config.json");
    const tokenizerConfig = opts.tokenizerConfig ?? (existsSync(cfgPath) ? read(cfgPath) : undefined);
    return new BpeTokenizer(json, { ...opts, tokenizerConfig });
  }

  static fromJSON(obj: unknown, opts: BpeOptions = {}): BpeTokenizer {
    return new BpeTokenizer(obj, opts);
  }

  private constructor(json: unknown, opts: BpeOptions) {
    if (!isRec(json)) fail("expected a JSON object");
    const model = json.model;
    if (!isRec(model)) fail("missing model");
    if (model.type !== undefined && model.type !== "BPE") fail(`model.type ${JSON.stringify(model.type)} is not BPE`);
    if (model.byte_fallback === true) fail("model.byte_fallback is not supported (byte-level BPE needs none)");
    if (model.continuing_subword_prefix || model.end_of_word_suffix)
      fail("continuing_subword_prefix / end_of_word_suffix are not supported");
    if (typeof model.dropout === "number" && model.dropout > 0) fail("BPE dropout is not supported");
    this.ignoreMerges = model.ignore_merges === true;
    this.cacheSize = opts.cacheSize ?? 50_000;
    this.longWord = opts.longWord ?? 48;

    if (!isRec(model.vocab)) fail("model.vocab must be an object of token -> id");
    let maxId = -1;
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0)
        fail(`vocab id for ${JSON.stringify(tok)} must be a non-negative integer`);
      if (this.idToToken[id] !== undefined) fail(`vocab id ${id} is used twice`);
      this.vocab.set(tok, id);
      this.idToToken[id] = tok;
      maxId = Math.max(maxId, id);
    }

    if (!Array.isArray(model.merges)) fail("model.merges must be an array");
    model.merges.forEach((m: unknown, rank: number) => {
      let a: unknown, b: unknown;
      if (typeof m === "string") {
        const parts = m.split(" ");
        if (parts.length !== 2) fail(`merges[${rank}] ${JSON.stringify(m)} must be two tokens separated by one space`);
        [a, b] = parts;
      } else if (Array.isArray(m) && m.length === 2) [a, b] = m;
      if (typeof a !== "string" || typeof b !== "string" || !a || !b) fail(`merges[${rank}] must be "a b" or [a, b]`);
      for (const t of [a, b, a + b]) if (!this.vocab.has(t)) fail(`merges[${rank}] uses ${JSON.stringify(t)}, which is not in the vocab`);
      const key = `${a} ${b}`;
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });

    const addedRaw = json.added_tokens ?? [];
    if (!Array.isArray(addedRaw)) fail("added_tokens must be an array");
    const added: AddedToken[] = [];
    for (const t of addedRaw) {
      if (!isRec(t) || typeof t.id !== "number" || !Number.isInteger(t.id) || t.id < 0 || typeof t.content !== "string" || !t.content)
        fail("each added token needs an integer id and non-empty content");
      const at: AddedToken = { id: t.id, content: t.content, special: t.special === true };
      const inVocab = this.idToToken[at.id];
      if (inVocab !== undefined && inVocab !== at.content)
        fail(`added token ${JSON.stringify(at.content)} reuses id ${at.id} of ${JSON.stringify(inVocab)}`);
      added.push(at);
      this.added.set(at.content, at);
      this.idToAdded.set(at.id, at);
      maxId = Math.max(maxId, at.id);
    }
    this.addedTokens = added;
    this.vocabSize = maxId + 1;
    this.splitAll = new SpecialSplitter(added.map((t) => t.content));
    this.splitPlain = new SpecialSplitter(added.filter((t) => !t.special).map((t) => t.content));

    this.normalize = parseNormalizer(json.normalizer);
    this.pre = parsePreTokenizer(json.pre_tokenizer);
    const dec = json.decoder;
    if (!this.pre.byteLevel && !(isRec(dec) && dec.type === "ByteLevel"))
      fail("only byte-level BPE is supported (a ByteLevel pre_tokenizer or decoder)");
    if (dec !== null && dec !== undefined && !(isRec(dec) && dec.type === "ByteLevel"))
      fail(`decoder type ${JSON.stringify(isRec(dec) ? dec.type : dec)} is not supported (ByteLevel is)`);
    const template = parsePostProcessor(json.post_processor);
    const templateId = (name: string): number => {
      const id = this.added.get(name)?.id;
      if (id === undefined) fail(`post_processor adds ${JSON.stringify(name)}, which is not an added token`);
      return id;
    };
    this.prefixIds = template.before.map(templateId);
    this.suffixIds = template.after.map(templateId);
    const missing = BYTE_TO_CHAR.filter((c) => !this.vocab.has(c));
    if (missing.length)
      fail(
        `vocab lacks ${missing.length} of the 256 byte-level base tokens (e.g. ${JSON.stringify(missing[0])}), so some text could not be encoded`,
      );

    const cfg = isRec(opts.tokenizerConfig) ? opts.tokenizerConfig : {};
    const pick = (name: string, explicit: string | undefined, fromCfg: unknown, fallbacks: string[]): number | undefined => {
      const want = explicit ?? readEosLike(fromCfg);
      if (want !== undefined) {
        const id = this.tokenId(want);
        if (id === undefined) throw new ValidationError("BpeTokenizer", [`${name} token ${JSON.stringify(want)} is not in the vocabulary`]);
        return id;
      }
      for (const f of fallbacks) {
        const id = this.tokenId(f);
        if (id !== undefined) return id;
      }
      return undefined;
    };
    const eos = pick("eos", opts.eosToken, cfg.eos_token, ["<|endoftext|>", CHATML_END, "<|end_of_text|>", "</s>"]);
    if (eos === undefined) throw new ValidationError("BpeTokenizer", ["no eos token found; pass { eosToken }"]);
    this.eosId = eos;
    this.padId = pick("pad", opts.padToken, cfg.pad_token, []) ?? eos;
    const hasChatml = this.tokenId(CHATML_START) !== undefined && this.tokenId(CHATML_END) !== undefined;
    const fromJinja = templateFromJinja(
      typeof cfg.chat_template === "string" ? cfg.chat_template : undefined,
      hasChatml ? "chatml" : "plain",
    );
    this.chatTemplate = opts.chatTemplate ?? fromJinja.name;
    this.defaultSystem = this.chatTemplate === fromJinja.name ? fromJinja.defaultSystem : undefined;
    if (this.chatTemplate === "chatml" && !hasChatml)
      throw new ValidationError("BpeTokenizer", ["chatml template needs <|im_start|> and <|im_end|> tokens"]);
    const imEnd = this.tokenId(CHATML_END);
    this.stopIds = this.chatTemplate === "chatml" && imEnd !== undefined && imEnd !== eos ? [eos, imEnd] : [eos];
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    checkText("BpeTokenizer.encode", text);
    const out: number[] = opts.addSpecialTokens ? [...this.prefixIds] : [];
    for (const seg of (opts.allowSpecial ? this.splitAll : this.splitPlain).split(text)) {
      if (seg.special) {
        out.push(this.added.get(seg.text)!.id);
        continue;
      }
      let s = this.normalize(seg.text);
      if (this.pre.addPrefixSpace && !s.startsWith(" ")) s = ` ${s}`;
      for (const piece of pretokenize(this.pre.steps, s)) for (const id of this.bpe(piece)) out.push(id);
    }
    if (opts.addSpecialTokens) out.push(...this.suffixIds);
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const arr = checkIds("BpeTokenizer.decode", ids, (id) => this.idToAdded.has(id) || this.idToToken[id] !== undefined, this.vocabSize);
    let out = "";
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) out += decoder.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of arr) {
      const at = this.idToAdded.get(id);
      if (at) {
        flush();
        if (!(at.special && opts.skipSpecial)) out += at.content;
        continue;
      }
      let b = this.idBytes[id];
      if (b === undefined) {
        const tmp: number[] = [];
        b = this.idBytes[id] = fromByteLevel(this.idToToken[id]!, tmp) ? tmp : null;
      }
      if (b === null) {
        flush();
        out += this.idToToken[id]; // a vocab entry outside the byte alphabet: show it as written
      } else for (const x of b) bytes.push(x);
    }
    flush();
    return out;
  }

  tokenId(token: string): number | undefined {
    checkText("BpeTokenizer.tokenId", token);
    return this.added.get(token)?.id ?? this.vocab.get(token);
  }

  /** The vocabulary spelling of an id (byte-level characters for BPE tokens). */
  idToTokenString(id: number): string | undefined {
    return this.idToAdded.get(id)?.content ?? this.idToToken[id];
  }

  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return renderChat(this.chatTemplate, messages, { defaultSystem: this.defaultSystem, ...opts });
  }

  encodeChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { allowSpecial: true });
  }

  // Merges the lowest-ranked adjacent pair everywhere it occurs, left to
  // right, until no ranked pair is left (GPT-2's reference algorithm).
  private bpe(piece: string): number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const word = toByteLevel(piece);
    const whole = this.vocab.get(word);
    let ids: number[];
    if (whole !== undefined && (this.ignoreMerges || word.length === 1)) {
      ids = [whole];
    } else if (word.length > this.longWord) {
      ids = this.mergeWithHeap(Array.from(word)).map((s) => this.vocab.get(s)!);
    } else {
      let syms = Array.from(word);
      while (syms.length > 1) {
        let best = Infinity;
        let bi = -1;
        for (let i = 0; i + 1 < syms.length; i++) {
          const r = this.ranks.get(`${syms[i]} ${syms[i + 1]}`);
          if (r !== undefined && r < best) {
            best = r;
            bi = i;
          }
        }
        if (bi < 0) break;
        const a = syms[bi];
        const b = syms[bi + 1];
        const next: string[] = syms.slice(0, bi);
        for (let i = bi; i < syms.length; ) {
          if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
            next.push(a + b);
            i += 2;
          } else {
            next.push(syms[i++]);
          }
        }
        syms = next;
      }
      ids = syms.map((s) => this.vocab.get(s)!);
    }
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  // Same result as the scan above (lowest rank first, ties to the left), in
  // O(n log n): a linked list of symbols and a heap of candidate pairs whose
  // stale entries are skipped when popped. Guards long inputs such as runs of
  // whitespace or digits, where the scan would be quadratic.
  private mergeWithHeap(syms: string[]): string[] {
    const n = syms.length;
    const val = syms.slice();
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap: Array<[number, number, string]> = []; // [rank, left position, pair key]
    const less = (a: [number, number, string], b: [number, number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    const push = (e: [number, number, string]) => {
      heap.push(e);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1,
            r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l], heap[m])) m = l;
          if (r < heap.length && less(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      return top;
    };
    const consider = (i: number) => {
      const j = i < 0 ? -1 : next[i];
      if (j < 0) return;
      const key = `${val[i]} ${val[j]}`;
      const r = this.ranks.get(key);
      if (r !== undefined) push([r, i, key]);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    const dead = new Uint8Array(n);
    while (heap.length) {
      const [, i, key] = pop();
      const j = next[i];
      if (dead[i] || j < 0 || `${val[i]} ${val[j]}` !== key) continue;
      val[i] += val[j];
      dead[j] = 1;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      consider(prev[i]);
      consider(i);
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(val[i]);
    return out;
  }
}

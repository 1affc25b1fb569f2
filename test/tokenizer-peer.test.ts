// Arclight's byte-level BPE against two independent implementations, token id
// for token id, on a varied corpus (prose, code, numbers, whitespace runs,
// contractions, CJK, emoji, combining marks, controls, lone surrogates, special
// token look-alikes, seeded fast-check strings):
// - js-tiktoken, whose gpt2 and cl100k_base ranks are GPT-2's vocabulary and
//   the first 100,256 tokens of Llama 3's;
// - @huggingface/tokenizers (tokenizers.js) loading the same tokenizer.json.
// No model hub is reachable here, so the tokenizer.json files are built from
// the ranks js-tiktoken ships (test/helpers/tokenizer-peers.ts says how): real
// vocabularies and merges in GPT-2's, Llama 3's and Qwen2's file layouts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { Tiktoken } from "js-tiktoken/lite";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { BpeTokenizer } from "../src/tokenizer/bpe.js";
import { ByteTokenizer } from "../src/tokenizer/byte-tokenizer.js";
import { BYTE_TO_CHAR } from "../src/tokenizer/byte-level.js";
import { GPT2_PATTERN } from "../src/tokenizer/pretokenize.js";
import { ValidationError } from "../src/types/errors.js";
import { gpt2TokenizerJson, llama3TokenizerJson, peerCorpus, qwen2TokenizerJson, tiktokenRanks } from "./helpers/tokenizer-peers.js";

const prose = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "fixtures/tokenizer/corpus.txt"), "utf8");
const corpus = peerCorpus(prose);

// JavaScript's \s has U+FEFF and lacks U+0085; Oniguruma (HF's Rust
// tokenizers) and Rust's regex (tiktoken) say the opposite. Peers that run
// their pattern as a plain JavaScript RegExp split these texts differently.
const jsWhitespaceQuirk = (s: string) => /[\ufeff\u0085]/.test(s);

const hfIds = (tok: HfTokenizer, text: string, addSpecial = false) => tok.encode(text, { add_special_tokens: addSpecial }).ids;

function mismatches(texts: readonly string[], ours: (s: string) => number[], theirs: (s: string) => number[]): string[] {
  const out: string[] = [];
  for (const s of texts) {
    const a = ours(s);
    const b = theirs(s);
    if (a.length !== b.length || a.some((x, i) => x !== b[i]))
      out.push(`${JSON.stringify(s)}\n  arclight ${JSON.stringify(a)}\n  peer     ${JSON.stringify(b)}`);
  }
  return out;
}

function assertSame(what: string, texts: readonly string[], ours: (s: string) => number[], theirs: (s: string) => number[]): void {
  const bad = mismatches(texts, ours, theirs);
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${texts.length} texts differ, e.g.\n${bad.slice(0, 3).join("\n")}`);
}

let gpt2: { json: Record<string, unknown>; ours: BpeTokenizer; hf: HfTokenizer; tt: Tiktoken } | undefined;
const loadGpt2 = () => {
  if (!gpt2) {
    const json = gpt2TokenizerJson();
    gpt2 = { json, ours: BpeTokenizer.fromJSON(json), hf: new HfTokenizer(json, {}), tt: new Tiktoken(tiktokenRanks("gpt2")) };
  }
  return gpt2;
};

test("GPT-2: ids equal js-tiktoken's gpt2 encoding on the whole corpus, save JavaScript's \\s quirk", { timeout: 60_000 }, () => {
  const { ours, tt } = loadGpt2();
  assert.ok(corpus.length > 300);
  // Special-token strings stay plain text on both sides.
  assertSame(
    "gpt2 vs js-tiktoken",
    corpus.filter((s) => !jsWhitespaceQuirk(s)),
    (s) => ours.encode(s),
    (s) => tt.encode(s, [], []),
  );
  assert.deepEqual(ours.encode("Hello world"), [15496, 995]); // GPT-2's ids, as published
});

test("GPT-2: ids equal @huggingface/tokenizers on the same tokenizer.json, special tokens included", { timeout: 60_000 }, () => {
  const { json, ours, hf } = loadGpt2();
  assertSame(
    "gpt2 vs tokenizers.js",
    corpus.filter((s) => !jsWhitespaceQuirk(s)),
    (s) => ours.encode(s, { allowSpecial: true }),
    (s) => hfIds(hf, s),
  );
  // tokenizers.js runs a Split pattern with Oniguruma's \s, so GPT-2's pattern
  // written as a Split step is the faithful peer for U+FEFF and U+0085 too.
  const split = {
    ...json,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: GPT2_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
  };
  const quirky = corpus.filter(jsWhitespaceQuirk);
  assert.ok(quirky.length > 0, "the corpus should hold U+FEFF / U+0085 cases");
  const hfSplit = new HfTokenizer(split, {});
  assertSame(
    "gpt2 (as Split) vs tokenizers.js",
    quirky,
    (s) => ours.encode(s, { allowSpecial: true }),
    (s) => hfIds(hfSplit, s),
  );
  // Decoding agrees too, on whole encodings and on ones cut mid-character.
  for (const s of corpus) {
    const ids = ours.encode(s, { allowSpecial: true });
    for (const part of [ids, ids.slice(1), ids.slice(0, -1)].filter((p) => p.length > 0))
      assert.equal(ours.decode(part), hf.decode(part, { clean_up_tokenization_spaces: false }), JSON.stringify(s));
  }
  // By hand: U+FEFF is not whitespace for GPT-2, so " \ufeff" is one punctuation piece ("Ġï", "»", "¿").
  assert.deepEqual(
    ours.encode(" \ufeff").map((id) => ours.idToTokenString(id)),
    ["Ġï", "»", "¿"],
  );
});

test("Llama 3 layout (cl100k_base vocabulary): ids equal tokenizers.js with and without BOS, and js-tiktoken's cl100k_base", {
  timeout: 60_000,
}, () => {
  const json = llama3TokenizerJson();
  const cfg = { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>" };
  const ours = BpeTokenizer.fromJSON(json, { tokenizerConfig: cfg });
  const hf = new HfTokenizer(json, cfg);
  assertSame(
    "llama3 vs tokenizers.js",
    corpus,
    (s) => ours.encode(s, { allowSpecial: true }),
    (s) => hfIds(hf, s),
  );
  assertSame(
    "llama3 with BOS vs tokenizers.js",
    corpus.slice(0, 60),
    (s) => ours.encode(s, { allowSpecial: true, addSpecialTokens: true }),
    (s) => hfIds(hf, s, true),
  );
  assert.equal(ours.encode("hi", { addSpecialTokens: true })[0], 128000);
  assert.equal(ours.eosId, 128001);
  const tt = new Tiktoken(tiktokenRanks("cl100k_base"));
  assertSame(
    "llama3 vs js-tiktoken cl100k_base",
    corpus.filter((s) => !jsWhitespaceQuirk(s)),
    (s) => ours.encode(s),
    (s) => tt.encode(s, [], []),
  );
});

test("Qwen2 layout (NFC, single-digit split, ChatML specials): ids equal tokenizers.js on the corpus and on random strings", {
  timeout: 60_000,
}, () => {
  const json = qwen2TokenizerJson();
  const ours = BpeTokenizer.fromJSON(json);
  const hf = new HfTokenizer(json, {});
  assertSame(
    "qwen2 vs tokenizers.js",
    corpus,
    (s) => ours.encode(s, { allowSpecial: true }),
    (s) => hfIds(hf, s),
  );
  assert.equal(ours.chatTemplate, "chatml");
  const chat = ours.applyChatTemplate([{ role: "user", content: "2+2? 四" }], { addGenerationPrompt: true });
  assert.deepEqual(ours.encodeChat([{ role: "user", content: "2+2? 四" }], { addGenerationPrompt: true }), hfIds(hf, chat));
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 60 }), (s) => {
      assert.deepEqual(ours.encode(s, { allowSpecial: true }), hfIds(hf, s));
      if (s.isWellFormed()) assert.equal(ours.decode(ours.encode(s)), s.normalize("NFC"));
    }),
    { numRuns: 300, seed: 42 },
  );
});

test("a leading U+FEFF is text, not a byte-order mark: decode keeps it (BPE and byte tokenizers)", () => {
  const { ours } = loadGpt2();
  for (const tok of [ours, new ByteTokenizer()]) {
    for (const s of ["\ufeff", "\ufeffit's", "a\ufeff"]) assert.equal(tok.decode(tok.encode(s)), s);
  }
});

test("post-processors other than special tokens around one sequence are refused, naming the problem", () => {
  const base = {
    model: { type: "BPE", vocab: Object.fromEntries(BYTE_TO_CHAR.map((c, i) => [c, i])), merges: [] },
    pre_tokenizer: { type: "ByteLevel", use_regex: true },
    added_tokens: [{ id: 300, content: "<s>", special: true }],
  };
  const refused = (post: unknown, msg: RegExp) =>
    assert.throws(
      () => BpeTokenizer.fromJSON({ ...base, post_processor: post }, { eosToken: "<s>" }),
      (e: unknown) => e instanceof ValidationError && msg.test(e.message),
    );
  refused({ type: "RobertaProcessing" }, /post_processor type "RobertaProcessing" is not supported/);
  refused({ type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>" } }] }, /no \$A/);
  refused({ type: "TemplateProcessing", single: [{ Sequence: { id: "A" } }, { Sequence: { id: "A" } }] }, /piece/);
  refused(
    {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<bos>" } }, { Sequence: { id: "A" } }],
      special_tokens: { "<bos>": { ids: [1] } },
    },
    /"<bos>", which is not an added token/,
  );
  refused(
    { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>" } }, { Sequence: { id: "A" } }], special_tokens: {} },
    /exactly one id/,
  );
});

test("a SentencePiece-style tokenizer.json (TinyLlama's: byte_fallback, Metaspace-like normalizer) is refused, not approximated", () => {
  const tinyLlamaLike = {
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: { type: "Sequence", decoders: [{ type: "Replace" }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip" }] },
    added_tokens: [{ id: 1, content: "<s>", special: true }],
    model: { type: "BPE", byte_fallback: true, fuse_unk: true, unk_token: "<unk>", vocab: { "<unk>": 0, "<s>": 1, "▁": 2 }, merges: [] },
  };
  assert.throws(
    () => BpeTokenizer.fromJSON(tinyLlamaLike),
    (e: unknown) => e instanceof ValidationError && /byte_fallback is not supported/.test(e.message),
  );
  assert.throws(
    () => BpeTokenizer.fromJSON({ ...tinyLlamaLike, model: { ...tinyLlamaLike.model, byte_fallback: false } }),
    (e: unknown) => e instanceof ValidationError && /normalizer type "Prepend" is not supported/.test(e.message),
  );
});

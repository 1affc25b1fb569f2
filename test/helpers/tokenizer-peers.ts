// Real-vocabulary tokenizer.json files for checking Arclight's BPE against
// peer implementations, built offline from the tiktoken ranks that js-tiktoken
// ships (no model hub is reachable here):
// - GPT-2: the gpt2 ranks are GPT-2's own vocabulary (ids equal encoder.json's).
// - Llama 3: Llama 3's vocabulary is cl100k_base's 100,256 tokens plus 28k
//   more, with cl100k_base's pattern; the file has Llama 3's layout (Split +
//   ByteLevel without regex, ignore_merges, its special tokens, a BOS
//   TemplateProcessing post-processor), so only the extra 28k tokens are missing.
// - Qwen2: Qwen2's layout (NFC, its own Split pattern with single digits,
//   ChatML specials at Qwen2's ids) over the same cl100k_base vocabulary, since
//   Qwen2's vocabulary is not shipped by any package here.
// Merges are every split of a token into two tokens, ordered by the merged
// token's rank: what tiktoken's "merge the lowest-ranked pair" means in HF's
// merge-list form (transformers converts tiktoken files the same way).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import fc from "fast-check";
import { BYTE_TO_CHAR } from "../../src/tokenizer/byte-level.js";
import { QWEN2_PATTERN_HF } from "../../src/tokenizer/pretokenize.js";

export type TiktokenRanks = { pat_str: string; special_tokens: Record<string, number>; bpe_ranks: string };

const require = createRequire(import.meta.url);

/** Loads js-tiktoken's ranks file (`gpt2`, `cl100k_base`) without importing it as a module. */
const rankFiles = new Map<string, TiktokenRanks>();

export function tiktokenRanks(name: "gpt2" | "cl100k_base"): TiktokenRanks {
  const hit = rankFiles.get(name);
  if (hit) return hit;
  const path = require.resolve(`js-tiktoken/ranks/${name}`).replace(/\.c?js$/, ".js");
  const src = readFileSync(path, "utf8");
  const ranks = JSON.parse(src.slice(src.indexOf("{"), src.lastIndexOf("}") + 1)) as TiktokenRanks;
  rankFiles.set(name, ranks);
  return ranks;
}

function byteLevel(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

const built = new Map<TiktokenRanks, { vocab: Record<string, number>; merges: string[] }>();

/** vocab (byte-level spelling -> rank) and merges from tiktoken's compressed rank list (memoized; treat as read-only). */
export function vocabAndMerges(ranks: TiktokenRanks): { vocab: Record<string, number>; merges: string[] } {
  const hit = built.get(ranks);
  if (hit) return hit;
  // A Map, not an object: "constructor" and "__proto__" are GPT-2 tokens.
  const ids = new Map<string, number>();
  const byRank: string[] = [];
  for (const line of ranks.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(" ");
    const offset = Number.parseInt(offsetStr, 10);
    tokens.forEach((t, i) => {
      const s = byteLevel(Buffer.from(t, "base64"));
      ids.set(s, offset + i);
      byRank[offset + i] = s;
    });
  }
  const merges: Array<[number, number, number, string]> = [];
  for (let rank = 0; rank < byRank.length; rank++) {
    const tok = byRank[rank];
    if (tok === undefined || tok.length < 2) continue;
    for (let i = 1; i < tok.length; i++) {
      const l = ids.get(tok.slice(0, i));
      const r = ids.get(tok.slice(i));
      if (l !== undefined && r !== undefined) merges.push([rank, l, r, `${tok.slice(0, i)} ${tok.slice(i)}`]);
    }
  }
  merges.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const out = { vocab: Object.fromEntries(ids), merges: merges.map((m) => m[3]) };
  built.set(ranks, out);
  return out;
}

const byteLevelStep = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

/** GPT-2's tokenizer.json: its vocabulary, ByteLevel pre-tokenizer with GPT-2's regex, <|endoftext|> = 50256. */
export function gpt2TokenizerJson(): Record<string, unknown> {
  const ranks = tiktokenRanks("gpt2");
  const { vocab, merges } = vocabAndMerges(ranks);
  return {
    version: "1.0",
    added_tokens: [special(50256, "<|endoftext|>")],
    normalizer: null,
    pre_tokenizer: byteLevelStep(true),
    post_processor: byteLevelStep(true),
    decoder: byteLevelStep(true),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/** Llama 3's pattern as its tokenizer.json spells it (cl100k_base's, in Oniguruma syntax). */
export const LLAMA3_PATTERN_HF = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

const LLAMA3_SPECIALS = [
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>",
  "<|finetune_right_pad_id|>",
  "<|reserved_special_token_2|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  "<|eom_id|>",
  "<|eot_id|>",
  "<|python_tag|>",
];

/** A Llama 3-layout tokenizer.json over cl100k_base (Llama 3's first 100,256 tokens). */
export function llama3TokenizerJson(): Record<string, unknown> {
  const { vocab, merges } = vocabAndMerges(tiktokenRanks("cl100k_base"));
  return {
    version: "1.0",
    added_tokens: LLAMA3_SPECIALS.map((c, i) => special(128000 + i, c)),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: LLAMA3_PATTERN_HF }, behavior: "Isolated", invert: false }, byteLevelStep(false)],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        byteLevelStep(true),
        {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [
            { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } },
            { Sequence: { id: "B", type_id: 1 } },
          ],
          special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
        },
      ],
    },
    decoder: byteLevelStep(true),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

/** A Qwen2-layout tokenizer.json (NFC, Qwen2's Split pattern, ChatML specials at Qwen2's ids) over cl100k_base. */
export function qwen2TokenizerJson(): Record<string, unknown> {
  const { vocab, merges } = vocabAndMerges(tiktokenRanks("cl100k_base"));
  return {
    version: "1.0",
    added_tokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].map((c, i) => special(151643 + i, c)),
    normalizer: { type: "NFC" },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: QWEN2_PATTERN_HF }, behavior: "Isolated", invert: false }, byteLevelStep(false)],
    },
    post_processor: byteLevelStep(false),
    decoder: byteLevelStep(false),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Hand-picked texts where tokenizers tend to disagree: every regex branch and Unicode edge a pattern can hit. */
export const TRICKY_TEXTS: readonly string[] = [
  "Hello, world! The quick brown fox jumps over the lazy dog.",
  "I'm sure you'll see they've said it's John's, we'd and I'D and YOU'LL and SHE'S, O'Neil's 'quoted' 's",
  "def f(x):\n    return x**2 + 3*x - 1  # square\n\n\nclass A:\n\tpass\r\n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: source code as tokenizer input, not a template
  "const xs = [1, 2, 3].map((n) => n * 2); if (a !== b && c >= d) { console.log(`${a}`); }",
  "SELECT id, name FROM users WHERE age > 21 ORDER BY name DESC;",
  '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b\\n"}}',
  "1234567890 12 123 1234 12345 3.14159 -42 1,000,000 0x1F 1e-9 ١٢٣ ⅫⅣ ½",
  "a  b   c    d     e\n\n\n  \t \t\n   end   ",
  " leading space",
  "trailing space ",
  "  ",
  "\n",
  "\r\n\r\n",
  "\t\t\t",
  "",
  "日本語のテキストと中文文本，还有한국어 텍스트。",
  "Привет, мир! Ελληνικά κείμενα. עברית וערבית: مرحبا بالعالم",
  "हिन्दी भाषा, ภาษาไทย, தமிழ்",
  "Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 🙂🙃 ✔️ ❤️‍🔥 🧑🏿‍🚀",
  "Combining: e\u0301 a\u0308 n\u0303 \u0041\u030A Z\u0335\u0321\u0328a\u0337l\u0334g\u0336o\u0338 café naïve",
  "Zero width: a\u200bb\u200cc\u200dd\u2060e \ufeffBOM \u00a0nbsp\u3000ideographic\u2028ls\u2029ps\u0085nel",
  "Controls: \u0000\u0001\u0007\u001b[31mred\u001b[0m \u007f \u0080\u009f",
  "Replacement \ufffd and lone surrogates \ud800 x \udfff y \udbff\udfff",
  "Private use \ue000\uf8ff and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 𠀀",
  "<|endoftext|> text with <|im_start|>user\nhi<|im_end|> markers and <|begin_of_text|><|eot_id|>",
  "Strange punct: ¿¡ «» „“ ‘’ — – … •·° § ¶ † ‡ ← → ⇒ ∀∃ ≤≥ ∞",
  "x".repeat(300),
  `${" ".repeat(200)}x`,
  "9".repeat(100),
  "!?".repeat(80),
  "ab".repeat(150),
  "https://example.com/path?query=1&b=two#frag user@example.org C:\\Windows\\System32",
  "Mixed123abc ABC123 abc_def-ghi.jkl camelCaseWord snake_case_word SCREAMING_CASE",
];

/**
 * The comparison corpus: the tricky texts, the tokenizer fixture's prose, and
 * seeded fast-check strings (full Unicode, graphemes, ASCII, and mixes of
 * the tricky pieces), so a run is reproducible.
 */
export function peerCorpus(prose: string, randomCount = 300, seed = 20261202): string[] {
  const pieces = TRICKY_TEXTS.flatMap((t) => t.split(/(?<=\s)/)).filter(Boolean);
  const arb = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ unit: "grapheme-ascii", maxLength: 60 }),
    fc.string({
      unit: fc.constantFrom(" ", "\n", "\t", "\r", "'", "s", "LL", "1", "23", "é", "中", "🙂", "\u0301", "\u00a0", "\u0085", "<|", "|>"),
      maxLength: 30,
    }),
    fc.array(fc.constantFrom(...pieces), { maxLength: 8 }).map((a) => a.join("")),
  );
  const random = fc.sample(arb, { numRuns: randomCount, seed });
  const lines = prose.split("\n");
  const chunks: string[] = [];
  for (let i = 0; i < lines.length; i += 20) chunks.push(lines.slice(i, i + 20).join("\n"));
  return [...TRICKY_TEXTS, ...chunks, ...random];
}

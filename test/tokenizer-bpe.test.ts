import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { BpeTokenizer, trainBpe } from "../src/tokenizer/index.js";
import { GPT2_PATTERN, QWEN2_PATTERN_HF, compilePattern, pretokenize } from "../src/tokenizer/pretokenize.js";
import { BYTE_ORDER, BYTE_TO_CHAR, toByteLevel } from "../src/tokenizer/byte-level.js";
import { ValidationError } from "../src/types/errors.js";
import { buildFixture } from "./fixtures/tokenizer/make-fixture.js";

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), "fixtures/tokenizer");
const fixturePath = join(fixtureDir, "tiny-gpt2/tokenizer.json");
const fixtureJson = () => JSON.parse(readFileSync(fixturePath, "utf8"));

// A tokenizer.json with the 256 byte tokens in GPT-2's order and the given merges.
function handmade(merges: string[], extra: Record<string, number> = {}) {
  const vocab: Record<string, number> = {};
  BYTE_ORDER.forEach((b, i) => (vocab[BYTE_TO_CHAR[b]] = i));
  let id = 256;
  for (const m of merges) {
    const t = m.replace(" ", "");
    if (vocab[t] === undefined) vocab[t] = id++;
  }
  Object.assign(vocab, extra);
  const bl = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    added_tokens: [{ id: 50256, content: "<|endoftext|>", special: true }],
    normalizer: null,
    pre_tokenizer: bl,
    post_processor: bl,
    decoder: bl,
    model: { type: "BPE", vocab, merges },
  };
}

// GPT-2's first seven merges, which give it ids 256..262 ("Ġthe" = 262).
const GPT2_FIRST_MERGES = ["Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he"];

test("byte-to-unicode table and base ids are GPT-2's", () => {
  assert.equal(BYTE_TO_CHAR[0x20], "Ġ");
  assert.equal(BYTE_TO_CHAR[0x0a], "Ċ");
  assert.equal(BYTE_TO_CHAR[0x00], "Ā");
  assert.equal(BYTE_TO_CHAR[0x41], "A");
  assert.equal(toByteLevel("é"), "Ã©");
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  const tok = BpeTokenizer.fromJSON(handmade(GPT2_FIRST_MERGES));
  // GPT-2 itself: "!" = 0, "\n" = 198, " " = 220, " the" = 262, <|endoftext|> = 50256.
  assert.deepEqual(tok.encode("!"), [0]);
  assert.deepEqual(tok.encode("\n"), [198]);
  assert.deepEqual(tok.encode(" "), [220]);
  assert.deepEqual(tok.encode(" the"), [262]);
  assert.deepEqual(tok.encode("<|endoftext|>", { allowSpecial: true }), [50256]);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.eosId, 50256);
  assert.equal(tok.padId, 50256); // GPT-2 has no pad token: eos stands in
  assert.equal(tok.chatTemplate, "plain"); // no <|im_start|> in the vocabulary
  assert.deepEqual(tok.stopIds, [50256]);
});

test("BPE applies merges by rank, not left to right, as computed by hand", () => {
  const tok = BpeTokenizer.fromJSON(handmade(GPT2_FIRST_MERGES));
  const id = (s: string) => tok.tokenId(s)!;
  // "there": he (rank 2) before re (rank 4) -> t|he|re
  assert.deepEqual(tok.encode("there"), [id("t"), 258, 260]);
  // " in": "Ġ i" has no merge, "i n" does -> Ġ|in
  assert.deepEqual(tok.encode(" in"), [220, 259]);
  // lower rank wins even when it sits to the right: "abc" with [b c, a b] -> a|bc
  const t2 = BpeTokenizer.fromJSON(handmade(["b c", "a b"]));
  assert.deepEqual(
    t2.encode("abc").map((i) => t2.idToTokenString(i)),
    ["a", "bc"],
  );
  // a pair is merged at every occurrence, left to right, without overlaps
  const t3 = BpeTokenizer.fromJSON(handmade(["a a", "aa aa"]));
  assert.deepEqual(
    t3.encode("aaaaa").map((i) => t3.idToTokenString(i)),
    ["aaaa", "a"],
  );
  assert.deepEqual(
    t3.encode("aaa").map((i) => t3.idToTokenString(i)),
    ["aa", "a"],
  );
});

test("GPT-2 pre-tokenizer regex splits contractions, spaces and newlines like GPT-2", () => {
  const re = [compilePattern(GPT2_PATTERN)];
  assert.deepEqual(pretokenize(re, "Hello world's  end\n\nfoo"), ["Hello", " world", "'s", " ", " end", "\n", "\n", "foo"]);
  assert.deepEqual(pretokenize(re, "I'M 12345 (x)"), ["I", "'", "M", " 12345", " (", "x", ")"]);
  assert.deepEqual(pretokenize(re, "tab\there  "), ["tab", "\t", "here", "  "]);
  // Oniguruma's \s (used by HF): U+FEFF is not whitespace, U+0085 is.
  assert.deepEqual(pretokenize(re, "\ufeff! a\u0085 b"), ["\ufeff!", " a", "\u0085", " b"]);
});

test("Qwen2 pre-tokenizer regex: case-insensitive contractions, single digits, punctuation glued to words", () => {
  const re = [compilePattern(QWEN2_PATTERN_HF)];
  assert.deepEqual(pretokenize(re, "Hello 123 world's\n\n  x"), ["Hello", " ", "1", "2", "3", " world", "'s", "\n\n", " ", " x"]);
  assert.deepEqual(pretokenize(re, "I'M (hello"), ["I", "'M", " (", "hello"]);
  assert.deepEqual(pretokenize(re, "x(hello"), ["x", "(hello"]);
  assert.deepEqual(pretokenize(re, "ok!!\n\nnext"), ["ok", "!!\n\n", "next"]);
});

test("the committed fixture is exactly what trainBpe produces from the corpus", () => {
  assert.equal(readFileSync(fixturePath, "utf8"), buildFixture());
  const json = fixtureJson();
  assert.equal(json.model.merges.length, 200);
  assert.equal(Object.keys(json.model.vocab).length, 256 + 200 + 3);
});

test("fixture tokenizer round-trips Unicode text and compresses its training corpus", () => {
  const tok = BpeTokenizer.fromFile(fixturePath);
  const samples = [
    "The answer is 7.",
    "café naïve Straße — Ελληνικά русский 日本語 中文 한국어 🚀✨👩‍👩‍👧",
    "  leading and trailing spaces  \n\n\ttabs\r\nCRLF",
    "e\u0301 (combining) vs é",
    "",
    "'s'S'll'LL 123456789 3.14 <not special>",
  ];
  for (const s of samples) assert.equal(tok.decode(tok.encode(s)), s);
  const corpus = readFileSync(join(fixtureDir, "corpus.txt"), "utf8");
  const ids = tok.encode(corpus, { allowSpecial: true });
  assert.equal(tok.decode(ids), corpus);
  assert.ok(
    new TextEncoder().encode(corpus).length / ids.length > 1.8,
    `compression ${new TextEncoder().encode(corpus).length / ids.length}`,
  );
  assert.deepEqual(tok.encode(" the"), [tok.tokenId("Ġthe")]);
});

test("special tokens are matched only with allowSpecial and skipped on request", () => {
  const tok = BpeTokenizer.fromFile(fixturePath);
  const eot = tok.tokenId("<|endoftext|>")!;
  const imEnd = tok.tokenId("<|im_end|>")!;
  const withSpecial = tok.encode("hi<|im_end|>there<|endoftext|>", { allowSpecial: true });
  assert.ok(withSpecial.includes(imEnd) && withSpecial.at(-1) === eot);
  const plain = tok.encode("hi<|im_end|>there<|endoftext|>");
  assert.ok(!plain.includes(imEnd) && !plain.includes(eot));
  assert.equal(tok.decode(plain), "hi<|im_end|>there<|endoftext|>");
  assert.equal(tok.decode(withSpecial, { skipSpecial: true }), "hithere");
  assert.equal(tok.chatTemplate, "chatml");
  const chat = tok.encodeChat([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
  assert.equal(tok.decode(chat), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  assert.equal(chat.filter((i) => i === tok.tokenId("<|im_start|>")).length, 2);
});

test("Qwen2-format tokenizer.json (NFC + Split + ByteLevel) and tokenizer_config.json are honoured", () => {
  const json = fixtureJson();
  json.normalizer = { type: "NFC" };
  json.pre_tokenizer = {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: QWEN2_PATTERN_HF }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };
  json.model.merges = json.model.merges.map((m: string) => m.split(" ")); // newer files store pairs
  const dir = mkdtempSync(join(tmpdir(), "arclight-tok-"));
  try {
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
    // Qwen2-Instruct's template, as stored in its tokenizer_config.json.
    const qwenTemplate =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    writeFileSync(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: qwenTemplate }),
    );
    const tok = BpeTokenizer.fromFile(join(dir, "tokenizer.json"));
    assert.equal(tok.eosId, tok.tokenId("<|im_end|>"));
    assert.equal(tok.padId, tok.tokenId("<|endoftext|>"));
    assert.deepEqual(tok.stopIds, [tok.eosId]);
    assert.equal(tok.chatTemplate, "chatml");
    assert.equal(tok.defaultSystem, "You are a helpful assistant.");
    assert.equal(
      tok.applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true }),
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    );
    assert.equal(tok.applyChatTemplate([{ role: "system", content: "S" }]), "<|im_start|>system\nS<|im_end|>\n");
    assert.equal(tok.applyChatTemplate([]), "");
    assert.deepEqual(tok.encode("e\u0301"), tok.encode("é")); // NFC first
    const digits = tok.encode("2026").map((i) => tok.idToTokenString(i));
    assert.deepEqual(digits, ["2", "0", "2", "6"]);
    assert.equal(tok.decode(tok.encode("Straße 12 'LL\n\n x")), "Straße 12 'LL\n\n x");
    const gpt2 = BpeTokenizer.fromFile(fixturePath);
    // GPT-2's regex keeps " 7" together (merged to "Ġ7"); Qwen2's splits the space from the digit.
    assert.deepEqual(
      gpt2.encode(" 7").map((i) => gpt2.idToTokenString(i)),
      ["Ġ7"],
    );
    assert.deepEqual(
      tok.encode(" 7").map((i) => tok.idToTokenString(i)),
      ["Ġ", "7"],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("malformed tokenizer.json files fail with ValidationError naming the problem", () => {
  const bad = (mutate: (j: ReturnType<typeof fixtureJson>) => void, pattern: RegExp) => {
    const j = fixtureJson();
    mutate(j);
    assert.throws(
      () => BpeTokenizer.fromJSON(j),
      (e: unknown) => e instanceof ValidationError && pattern.test(e.message),
    );
  };
  bad((j) => (j.model.type = "WordPiece"), /not BPE/);
  bad((j) => j.model.merges.push("zz qq"), /not in the vocab/);
  bad((j) => j.model.merges.push("a b c"), /two tokens/);
  bad((j) => (j.normalizer = { type: "Lowercase" }), /normalizer type "Lowercase"/);
  bad((j) => (j.pre_tokenizer = { type: "Whitespace" }), /pre_tokenizer type "Whitespace"/);
  bad((j) => (j.post_processor = { type: "TemplateProcessing" }), /post_processor/);
  bad((j) => delete j.model.vocab.Ā, /byte-level base tokens/);
  bad((j) => (j.model.vocab.dup = 5), /used twice/);
  bad((j) => (j.added_tokens[0].id = 5), /reuses id 5/);
  assert.throws(() => BpeTokenizer.fromJSON(fixtureJson(), { eosToken: "<nope>" }), /eos token "<nope>" is not in the vocabulary/);
  assert.throws(
    () => BpeTokenizer.fromFile("/no/such/tokenizer.json"),
    (e: unknown) => e instanceof ValidationError && /cannot read/.test(e.message),
  );
  const tok = BpeTokenizer.fromJSON(fixtureJson());
  assert.throws(() => tok.decode([tok.vocabSize]), /not a token id/);
  assert.throws(() => tok.encode(null as unknown as string), ValidationError);
});

test("trainBpe learns the most frequent pair first and is deterministic", () => {
  const j = trainBpe("ab ab ab cd", { merges: 3 });
  assert.equal(j.model.merges[0], "a b");
  assert.deepEqual(trainBpe("ab ab ab cd", { merges: 3 }), j);
  assert.throws(() => trainBpe("x", { merges: -1 }), ValidationError);
});

test("heap merge for long words gives the same ids as the scan and stays fast on huge pieces", () => {
  const corpus = readFileSync(join(fixtureDir, "corpus.txt"), "utf8");
  const scan = BpeTokenizer.fromJSON(fixtureJson(), { longWord: Infinity });
  const heap = BpeTokenizer.fromJSON(fixtureJson(), { longWord: 0 });
  assert.deepEqual(heap.encode(corpus), scan.encode(corpus));
  const t3s = BpeTokenizer.fromJSON(handmade(["a a", "aa aa", "b c", "a b"]), { longWord: Infinity });
  const t3h = BpeTokenizer.fromJSON(handmade(["a a", "aa aa", "b c", "a b"]), { longWord: 0 });
  for (const w of ["aaaaa", "abc", "aabcaaab", "abababcc"]) assert.deepEqual(t3h.encode(w), t3s.encode(w), w);
  const tok = BpeTokenizer.fromJSON(fixtureJson());
  const huge = `${" ".repeat(200_000)}x${"7".repeat(100_000)}`;
  const t0 = performance.now();
  const ids = tok.encode(huge);
  assert.ok(performance.now() - t0 < 5_000, "long pieces must not be quadratic");
  assert.equal(tok.decode(ids), huge);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { ByteTokenizer, renderChat } from "../src/tokenizer/index.js";
import { ValidationError } from "../src/types/errors.js";

// Seeded xorshift so the random strings are the same on every run.
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function randomText(r: () => number, n: number): string {
  const ranges = [
    [0x20, 0x7e],
    [0x0a, 0x0a],
    [0xa0, 0x24f],
    [0x370, 0x3ff],
    [0x400, 0x4ff],
    [0x3040, 0x30ff],
    [0x4e00, 0x9fff],
    [0xac00, 0xd7a3],
    [0x1f300, 0x1faff],
    [0x300, 0x36f],
  ];
  let s = "";
  for (let i = 0; i < n; i++) {
    const [lo, hi] = ranges[Math.floor(r() * ranges.length)];
    s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
  }
  return s;
}

test("byte tokenizer maps text to its UTF-8 bytes and back exactly", () => {
  const tok = new ByteTokenizer();
  assert.deepEqual(tok.encode("hé€😀"), [...new TextEncoder().encode("hé€😀")]);
  const r = rng(7);
  for (let k = 0; k < 200; k++) {
    const s = randomText(r, 1 + Math.floor(r() * 40));
    const ids = tok.encode(s);
    assert.ok(ids.every((id) => id >= 0 && id < 256));
    assert.equal(tok.decode(ids), s);
  }
  assert.deepEqual(tok.encode(""), []);
  assert.equal(tok.decode([]), "");
});

test("byte tokenizer matches special tokens only when allowed and can skip them on decode", () => {
  const tok = new ByteTokenizer();
  const text = "a<|im_start|>b<|endoftext|>";
  assert.deepEqual(tok.encode(text, { allowSpecial: true }), [97, tok.imStartId, 98, tok.eosId]);
  const plain = tok.encode(text);
  assert.equal(plain.length, new TextEncoder().encode(text).length);
  assert.equal(tok.decode(plain), text);
  assert.equal(tok.decode(tok.encode(text, { allowSpecial: true })), text);
  assert.equal(tok.decode(tok.encode(text, { allowSpecial: true }), { skipSpecial: true }), "ab");
  assert.equal(tok.tokenId("<|pad|>"), tok.padId);
  assert.equal(tok.tokenId("A"), 65);
  assert.equal(tok.tokenId("é"), undefined);
  assert.equal(tok.vocabSize, 260);
});

test("byte tokenizer rejects non-strings and ids outside the vocabulary with ValidationError", () => {
  const tok = new ByteTokenizer();
  assert.throws(
    () => tok.encode(42 as unknown as string),
    (e: unknown) => e instanceof ValidationError && /text must be a string, got number/.test(e.message),
  );
  assert.throws(
    () => tok.decode([1, 260]),
    (e: unknown) => e instanceof ValidationError && /ids\[1\] = 260 is not a token id/.test(e.message),
  );
  assert.throws(() => tok.decode([-1]), ValidationError);
  assert.throws(() => tok.decode([1.5]), /not an integer/);
  assert.throws(() => tok.decode("abc" as unknown as number[]), ValidationError);
  assert.throws(() => new ByteTokenizer({ chatTemplate: "jinja" as "plain" }), ValidationError);
});

test("decoding a cut multi-byte character yields U+FFFD instead of throwing", () => {
  const tok = new ByteTokenizer();
  const ids = tok.encode("é");
  assert.equal(tok.decode(ids.slice(0, 1)), "\uFFFD");
});

test("ChatML and plain templates render the documented formats", () => {
  const msgs = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "2+2?" },
  ];
  assert.equal(
    renderChat("chatml", msgs, { addGenerationPrompt: true }),
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(renderChat("plain", msgs), "system: Be brief.\nuser: 2+2?\n");
  assert.equal(renderChat("plain", msgs, { addGenerationPrompt: true }).endsWith("\nassistant: "), true);
  assert.throws(
    () => renderChat("chatml", [{ role: "user" } as never]),
    (e: unknown) => e instanceof ValidationError && /content must be a string/.test(e.message),
  );
  assert.throws(() => renderChat("plain", [{ role: "a\nb", content: "" }]), /role must be/);
  assert.throws(() => renderChat("plain", "hi" as never), /messages must be an array/);
});

test("encodeChat turns ChatML control strings into their special ids, user text stays text", () => {
  const tok = new ByteTokenizer({ chatTemplate: "chatml" });
  const ids = tok.encodeChat([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
  assert.equal(ids.filter((i) => i === tok.imStartId).length, 2);
  assert.equal(ids.filter((i) => i === tok.imEndId).length, 1);
  assert.deepEqual(tok.stopIds, [tok.eosId, tok.imEndId]);
  // Injected control strings in content are plain bytes under encode() without allowSpecial.
  const injected = tok.encode("<|im_end|>");
  assert.ok(!injected.includes(tok.imEndId));
  assert.deepEqual(new ByteTokenizer().stopIds, [256]);
});

// Encode/decode throughput of the BPE tokenizer against the byte tokenizer
// (the baseline: one TextEncoder call) on the same seeded text, same run.
// Run: node --import tsx bench/tokenizer/encode.ts [MB]
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { BpeTokenizer, ByteTokenizer, trainBpe, type Tokenizer } from "../../src/tokenizer/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const targetMB = Number(process.argv[2] ?? 2);

// Seeded mixture: corpus words, fresh random words (cache misses), numbers,
// punctuation, code-like lines and some non-Latin text.
function makeText(bytes: number): string {
  let s = 0x9e3779b9;
  const r = () => ((s = (s ^ (s << 13)) >>> 0), (s = (s ^ (s >>> 17)) >>> 0), (s = (s ^ (s << 5)) >>> 0), s / 2 ** 32);
  const words = readFileSync(join(root, "test/fixtures/tokenizer/corpus.txt"), "utf8").split(/\s+/).filter(Boolean);
  const extra = ["日本語の", "文本", "русский", "Ελληνικά", "naïve", "🚀", "def", "return", "=", "+", "(x)", "{", "}"];
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const u = r();
    let w: string;
    if (u < 0.7) w = words[Math.floor(r() * words.length)];
    else if (u < 0.8) w = Array.from({ length: 3 + Math.floor(r() * 8) }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join("");
    else if (u < 0.88) w = String(Math.floor(r() * 100000));
    else w = extra[Math.floor(r() * extra.length)];
    const sep = r() < 0.08 ? "\n" : r() < 0.03 ? "  " : " ";
    parts.push(w + sep);
    n += w.length + 1;
  }
  return parts.join("");
}

// Best of `reps` runs: the machine is shared, so the fastest run is the least disturbed one.
function mbps(tok: Tokenizer, text: string, bytes: number, reps = 3): { encode: number; decode: number; tokens: number } {
  let enc = 0, dec = 0, tokens = 0;
  for (let k = 0; k < reps; k++) {
    let t0 = performance.now();
    const ids = tok.encode(text);
    enc = Math.max(enc, bytes / 1e6 / ((performance.now() - t0) / 1e3));
    t0 = performance.now();
    const back = tok.decode(ids);
    dec = Math.max(dec, bytes / 1e6 / ((performance.now() - t0) / 1e3));
    if (back !== text) throw new Error(`${tok.kind} round trip failed`);
    tokens = ids.length;
  }
  return { encode: enc, decode: dec, tokens };
}

const text = makeText(targetMB * 1e6);
const bytes = new TextEncoder().encode(text).length;
const byte = new ByteTokenizer();
mbps(byte, text.slice(0, 100_000), 100_000);  // JIT warm-up
const base = mbps(byte, text, bytes);

const t0 = performance.now();
const big = trainBpe(text.slice(0, 100_000), { merges: 1000 });
const trainS = (performance.now() - t0) / 1e3;
const cases: Array<[string, () => BpeTokenizer]> = [
  ["bpe 200 merges (fixture)", () => BpeTokenizer.fromFile(join(root, "test/fixtures/tokenizer/tiny-gpt2/tokenizer.json"))],
  [`bpe ${big.model.merges.length} merges`, () => BpeTokenizer.fromJSON(big)],
];
console.log(`text: ${(bytes / 1e6).toFixed(2)} MB; node ${process.version}`);
console.log(`byte tokenizer (baseline): encode ${base.encode.toFixed(1)} MB/s, decode ${base.decode.toFixed(1)} MB/s`);
for (const [name, make] of cases) {
  const cold = mbps(make(), text, bytes, 1);
  const warm = mbps(make(), text, bytes);
  console.log(
    `${name}: encode cold ${cold.encode.toFixed(2)} MB/s, warm ${warm.encode.toFixed(2)} MB/s ` +
      `(${(warm.encode / base.encode).toFixed(3)}x byte), decode ${warm.decode.toFixed(1)} MB/s, ` +
      `${(bytes / warm.tokens).toFixed(2)} bytes/token`,
  );
}
console.log(`trainBpe: ${big.model.merges.length} merges on 0.1 MB in ${trainS.toFixed(1)} s`);

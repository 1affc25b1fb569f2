// Encode/decode throughput of the BPE tokenizer against the byte tokenizer
// (the baseline: one TextEncoder call) on the same seeded text, same run.
// Run: node --import tsx bench/tokenizer/encode.ts [MB]
import { join } from "node:path";
import { BpeTokenizer, ByteTokenizer, trainBpe, type Tokenizer } from "../../src/tokenizer/index.js";
import { makeText, root } from "./text.js";

const targetMB = Number(process.argv[2] ?? 2);

// Best of `reps` runs: the machine is shared, so the fastest run is the least disturbed one.
function mbps(tok: Tokenizer, text: string, bytes: number, reps = 3): { encode: number; decode: number; tokens: number } {
  let enc = 0,
    dec = 0,
    tokens = 0;
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
mbps(byte, text.slice(0, 100_000), 100_000); // JIT warm-up
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

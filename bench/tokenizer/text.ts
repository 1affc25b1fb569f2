// The seeded benchmark text shared by the tokenizer benchmarks.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

// Seeded mixture: corpus words, fresh random words (cache misses), numbers,
// punctuation, code-like lines and some non-Latin text.
export function makeText(bytes: number): string {
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

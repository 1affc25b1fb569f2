// Pre-tokenizer regexes: text is cut into words before BPE so merges never
// cross word boundaries. Patterns are the HF ones translated to JS syntax.
import { ValidationError } from "../types/errors.js";

/** GPT-2's pattern (HF ByteLevel pre-tokenizer with use_regex). */
export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/** Qwen2's Split pattern as written in its tokenizer.json (Oniguruma syntax). */
export const QWEN2_PATTERN_HF = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

// Oniguruma's Unicode \s (what HF tokenizers use): 0009-000D, 0085, Zs, Zl, Zp.
// JavaScript's \s differs (it has U+FEFF, lacks U+0085), so \s is spelled out.
const ONIG_WS = String.raw`\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;

/**
 * Translates an HF (Oniguruma) pattern to JavaScript: `(?i:...)` groups of
 * plain literals become character classes (`'s` -> `'[sS]`), since Node 20's
 * RegExp has no inline modifiers, and `\s` / `\S` get Oniguruma's meaning.
 */
export function translatePattern(pattern: string): string {
  const noModifiers = pattern.replace(/\(\?i:([^()\\[\]]*)\)/g, (_m, body: string) => {
    const cased = body.replace(/\p{L}/gu, (c) => {
      const lo = c.toLowerCase();
      const up = c.toUpperCase();
      return lo === up ? c : `[${lo}${up}]`;
    });
    return `(?:${cased})`;
  });
  let out = "";
  let inClass = false;
  for (let i = 0; i < noModifiers.length; i++) {
    const c = noModifiers[i];
    if (c === "\\") {
      const n = noModifiers[i + 1];
      if (n === "s") out += inClass ? ONIG_WS : `[${ONIG_WS}]`;
      else if (n === "S" && !inClass) out += `[^${ONIG_WS}]`;
      else out += c + (n ?? "");
      i++;
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    out += c;
  }
  return out;
}

export function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(translatePattern(pattern), "gu");
  } catch (e) {
    throw new ValidationError("tokenizer.json pre_tokenizer", [
      `pattern ${JSON.stringify(pattern)} is not valid as a JavaScript regex: ${(e as Error).message}`,
    ]);
  }
}

/**
 * Splits `text` into the regex's matches, keeping any unmatched stretch as its
 * own piece (HF's "Isolated" behaviour), so no character is ever dropped.
 */
export function splitIsolated(re: RegExp, text: string, out: string[]): void {
  re.lastIndex = 0;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
}

/** Applies a chain of splitting regexes: each piece of one step is split by the next. */
export function pretokenize(steps: readonly RegExp[], text: string): string[] {
  let pieces = [text];
  for (const re of steps) {
    const next: string[] = [];
    for (const p of pieces) splitIsolated(re, p, next);
    pieces = next;
  }
  return pieces;
}

/** Cuts text at special-token occurrences (longest match first); returns alternating plain/special segments. */
export class SpecialSplitter {
  private readonly re: RegExp | null;

  constructor(tokens: readonly string[]) {
    const sorted = [...new Set(tokens)].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
    this.re = sorted.length ? new RegExp(sorted.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu") : null;
  }

  split(text: string): Array<{ text: string; special: boolean }> {
    if (!this.re) return [{ text, special: false }];
    const out: Array<{ text: string; special: boolean }> = [];
    this.re.lastIndex = 0;
    let last = 0;
    for (let m = this.re.exec(text); m !== null; m = this.re.exec(text)) {
      if (m.index > last) out.push({ text: text.slice(last, m.index), special: false });
      out.push({ text: m[0], special: true });
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push({ text: text.slice(last), special: false });
    return out;
  }
}

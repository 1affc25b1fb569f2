// A small deterministic byte-level BPE trainer that emits a GPT-2 style
// tokenizer.json, for toy models and test fixtures (not for large corpora:
// each merge rescans every distinct word).
import { ValidationError } from "../types/errors.js";
import { BYTE_ORDER, BYTE_TO_CHAR, toByteLevel } from "./byte-level.js";
import { GPT2_PATTERN, compilePattern, pretokenize } from "./pretokenize.js";

export interface TrainBpeOptions {
  /** Number of merges to learn (stops early when no pair occurs twice). */
  merges: number;
  /** Special tokens appended after the learned vocabulary, in order. Default `["<|endoftext|>"]`. */
  specials?: string[];
}

export interface TokenizerJson {
  version: string;
  added_tokens: Array<{
    id: number;
    content: string;
    single_word: boolean;
    lstrip: boolean;
    rstrip: boolean;
    normalized: boolean;
    special: boolean;
  }>;
  normalizer: null;
  pre_tokenizer: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  decoder: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: "BPE";
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

/**
 * Learns merges on `text` with GPT-2's pre-tokenizer. The 256 byte tokens get
 * GPT-2's ids (so "!" is 0, "\n" is 198 and " " is 220, as in GPT-2); each
 * merge takes the most frequent adjacent pair, ties broken by the pair's
 * spelling, so the same text always gives the same file.
 */
export function trainBpe(text: string, opts: TrainBpeOptions): TokenizerJson {
  if (typeof text !== "string") throw new ValidationError("trainBpe", ["text must be a string"]);
  if (!Number.isInteger(opts?.merges) || opts.merges < 0) throw new ValidationError("trainBpe", ["merges must be a non-negative integer"]);
  const specials = opts.specials ?? ["<|endoftext|>"];

  const counts = new Map<string, number>();
  for (const piece of pretokenize([compilePattern(GPT2_PATTERN)], text)) {
    const w = toByteLevel(piece);
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const words = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, n]) => ({ syms: Array.from(w), n }));

  const vocab: Record<string, number> = {};
  BYTE_ORDER.forEach((b, i) => (vocab[BYTE_TO_CHAR[b]] = i));
  let nextId = 256;
  const merges: string[] = [];
  for (let m = 0; m < opts.merges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words)
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    let best: string | undefined;
    let bestN = 1;
    for (const [key, n] of pairs) if (n > bestN || (n === bestN && best !== undefined && key < best)) [best, bestN] = [key, n];
    if (best === undefined) break;
    const [a, b] = best.split(" ");
    merges.push(best);
    vocab[a + b] = nextId++;
    for (const w of words) {
      const next: string[] = [];
      for (let i = 0; i < w.syms.length; ) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          next.push(a + b);
          i += 2;
        } else next.push(w.syms[i++]);
      }
      w.syms = next;
    }
  }
  const added_tokens = specials.map((content) => {
    const id = vocab[content] ?? nextId++;
    vocab[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });
  const bl = { type: "ByteLevel" as const, add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    added_tokens,
    normalizer: null,
    pre_tokenizer: bl,
    post_processor: bl,
    decoder: bl,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

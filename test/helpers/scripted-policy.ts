// Test-only: a policy (GeneratorLike) that writes queued replies as
// byte-tokenizer ids ending with <|im_end|>, and keeps the prompts it saw, so
// tests control exactly what "the model" writes (tool-call markup, malformed
// JSON) without training one. Real-policy paths are tested separately.
import { ByteTokenizer } from "../../src/tokenizer/byte-tokenizer.js";
import type { GeneratorLike } from "../../src/llm/backend.js";

export const chatmlBytes = new ByteTokenizer({ chatTemplate: "chatml" });

export class ScriptedPolicy implements GeneratorLike {
  config = { ctx: 4096 };
  replies: string[] = [];
  prompts: number[][] = [];
  async generate(prompts: number[][], opts: { n?: number; maxTokens?: number }) {
    this.prompts.push(prompts[0]);
    const text = this.replies.shift() ?? "ok";
    const ids = [...chatmlBytes.encode(text), chatmlBytes.imEndId].slice(0, opts.maxTokens ?? 1 << 20);
    const n = opts.n ?? 1;
    return { tokens: Array.from({ length: n }, () => ids), logprobs: Array.from({ length: n }, () => ids.map(() => -0.5)) };
  }
}

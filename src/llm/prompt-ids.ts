// Prompt token ids for the native policy, exactly as the model saw them
// across turns. A chat template renders an earlier assistant reply in its own
// canonical way (e.g. `{"name": "f", "arguments": {...}}` with Python's
// spacing), which need not be the text the model wrote, and re-tokenizing
// even identical text can split it differently. So a conversation whose
// history holds a reply this backend produced gets that call's prompt ids and
// reply ids verbatim, then the rest of the template's text encoded; the
// result says how many ids were reused and whether plain re-tokenization
// would have drifted from them.
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import type { ChatTurn, ToolSpec } from "../tokenizer/tools.js";
import type { TokenizerLike } from "./backend.js";

interface Reply {
  /** Rendered prompt of the call (generation prompt included, forced prefix not). */
  promptText: string;
  /** Prompt ids (forced prefix included) then the reply's ids (its stop token included); 4 bytes an id. */
  ids: Int32Array;
  /** The reply decoded with special tokens (what the model wrote). */
  replyText: string;
  /** The stop token's text when the reply ended with one. */
  stopText: string | null;
}

export interface PromptIds {
  ids: number[];
  /** The text rendered for the model, forced prefix included. */
  text: string;
  /** Rendered prompt without the forced prefix (what an earlier call is matched on). */
  promptText: string;
  reusedTokens: number;
  drift: boolean;
}

/** The identity of an assistant message as the client sends it back: its content and tool calls. */
export function replyKey(m: Pick<ChatTurn, "content" | "tool_calls">): string {
  return JSON.stringify([m.content ?? "", (m.tool_calls ?? []).map((c) => [c.id, c.function.name, c.function.arguments])]);
}

export class PromptIdBuilder {
  private readonly replies = new Map<string, Reply>();

  constructor(
    private readonly tokenizer: TokenizerLike,
    private readonly capacity: number,
  ) {}

  private encode(text: string): number[] {
    return this.tokenizer.encode(text, { allowSpecial: true });
  }

  build(template: ChatTemplate, messages: ChatTurn[], tools: ToolSpec[] | undefined, forcedPrefix: string): PromptIds {
    const full = template.render(messages, { tools, addGenerationPrompt: true });
    const text = full + forcedPrefix;
    const naive = this.encode(text);
    for (let k = messages.length - 1; k >= 0; k--) {
      if (messages[k].role !== "assistant") continue;
      const hit = this.replies.get(replyKey(messages[k]));
      if (!hit) continue;
      const before = template.render(messages.slice(0, k), { tools, addGenerationPrompt: true });
      if (before !== hit.promptText) continue;
      const closed = template.render(messages.slice(0, k + 1), { tools });
      if (!full.startsWith(closed) || !closed.startsWith(before)) continue;
      // What the template writes after the reply's own tokens: after its end-of-turn marker when the model
      // wrote one, else after the longest stretch the model's text and the template's agree on.
      const segment = closed.slice(before.length);
      const stopAt = hit.stopText ? segment.lastIndexOf(hit.stopText) : -1;
      const tail = stopAt >= 0 ? segment.slice(stopAt + hit.stopText!.length) : segment.slice(commonPrefix(segment, hit.replyText));
      const ids = [...hit.ids, ...this.encode(tail + full.slice(closed.length) + forcedPrefix)];
      return { ids, text, promptText: full, reusedTokens: hit.ids.length, drift: !sameIds(ids, naive) };
    }
    return { ids: naive, text, promptText: full, reusedTokens: 0, drift: false };
  }

  /** Remembers a reply the model produced for a prompt, under the message the client will send back. */
  remember(key: string, prompt: PromptIds, replyIds: number[], stopIds: readonly number[]): void {
    if (this.capacity <= 0) return;
    const last = replyIds.at(-1);
    const stopText = last !== undefined && stopIds.includes(last) ? this.tokenizer.decode([last]) : null;
    this.replies.delete(key);
    this.replies.set(key, {
      promptText: prompt.promptText,
      ids: Int32Array.from([...prompt.ids, ...replyIds]),
      replyText: this.tokenizer.decode(replyIds),
      stopText: stopText || null,
    });
    // Oldest first out: a Map iterates in insertion order.
    while (this.replies.size > this.capacity) this.replies.delete(this.replies.keys().next().value!);
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

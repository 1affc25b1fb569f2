// Chat templates by name. Hugging Face ships Jinja templates; Arclight renders
// the two formats its model families use directly, which avoids a Jinja engine
// and keeps the token boundaries (special tokens) exact.
import { ValidationError } from "../types/errors.js";
import type { ChatMessage, ChatTemplateName, ChatTemplateOptions } from "./tokenizer.js";

export const CHATML_START = "<|im_start|>";
export const CHATML_END = "<|im_end|>";

export function validateMessages(where: string, messages: unknown): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new ValidationError(where, ["messages must be an array"]);
  const issues: string[] = [];
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null) issues.push(`messages[${i}] must be an object`);
    else {
      const { role, content } = m as Record<string, unknown>;
      if (typeof role !== "string" || role.length === 0 || /[\n:]/.test(role))
        issues.push(`messages[${i}].role must be a non-empty string without ':' or newlines`);
      if (typeof content !== "string") issues.push(`messages[${i}].content must be a string`);
    }
  });
  if (issues.length) throw new ValidationError(where, issues);
}

/**
 * Renders messages.
 * - chatml: `<|im_start|>{role}\n{content}<|im_end|>\n` per message; the
 *   generation prompt is `<|im_start|>assistant\n`.
 * - plain: `{role}: {content}\n` per message; the generation prompt is
 *   `assistant: `. Models using it end a reply with their eos token.
 */
export function renderChat(template: ChatTemplateName, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  validateMessages("applyChatTemplate", messages);
  if (opts.defaultSystem !== undefined) {
    if (typeof opts.defaultSystem !== "string") throw new ValidationError("applyChatTemplate", ["defaultSystem must be a string"]);
    // Qwen2's template adds its system prompt when the conversation has none.
    if (messages.length > 0 && messages[0].role !== "system") messages = [{ role: "system", content: opts.defaultSystem }, ...messages];
  }
  let out = "";
  if (template === "chatml") {
    for (const m of messages) out += `${CHATML_START}${m.role}\n${m.content}${CHATML_END}\n`;
    if (opts.addGenerationPrompt) out += `${CHATML_START}assistant\n`;
  } else {
    for (const m of messages) out += `${m.role}: ${m.content}\n`;
    if (opts.addGenerationPrompt) out += "assistant: ";
  }
  return out;
}

/**
 * Reads what Arclight uses from a HF Jinja `chat_template`: ChatML when it
 * mentions `<|im_start|>`, else plain; and the default system prompt a
 * ChatML template inserts (the literal in `'<|im_start|>system\n...<|im_end|>'`),
 * as Qwen2-Instruct's does. The rest of the template is not interpreted.
 */
export function templateFromJinja(jinja: string | undefined, fallback: ChatTemplateName): { name: ChatTemplateName; defaultSystem?: string } {
  if (jinja === undefined) return { name: fallback };
  if (!jinja.includes(CHATML_START)) return { name: "plain" };
  const m = /<\|im_start\|>system(?:\\n|\n)([^'"{}]*?)<\|im_end\|>/.exec(jinja);
  return m ? { name: "chatml", defaultSystem: m[1].replace(/\\n/g, "\n") } : { name: "chatml" };
}

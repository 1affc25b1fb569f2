// Chat templates by name. Hugging Face ships Jinja templates (jinja-template.ts
// renders a model's own); Arclight renders the two formats its small model
// families use directly, tools included, keeping special-token boundaries exact.
import { ValidationError } from "../types/errors.js";
import type { ChatTemplateName, ChatTemplateOptions } from "./tokenizer.js";
import { toolCallBlock, toolResponseBlock, toolsSystemBlock, type ChatTurn, type ToolCall, type ToolSpec } from "./tools.js";

export const CHATML_START = "<|im_start|>";
export const CHATML_END = "<|im_end|>";

export function validateMessages(where: string, messages: unknown): asserts messages is ChatTurn[] {
  if (!Array.isArray(messages)) throw new ValidationError(where, ["messages must be an array"]);
  const issues: string[] = [];
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null) issues.push(`messages[${i}] must be an object`);
    else {
      const { role, content, tool_calls } = m as Record<string, unknown>;
      if (typeof role !== "string" || role.length === 0 || /[\n:]/.test(role))
        issues.push(`messages[${i}].role must be a non-empty string without ':' or newlines`);
      if (typeof content !== "string") issues.push(`messages[${i}].content must be a string`);
      if (tool_calls !== undefined) {
        const ok =
          Array.isArray(tool_calls) &&
          tool_calls.every(
            (c: Partial<ToolCall> | null) => typeof c?.function?.name === "string" && typeof c.function.arguments === "string",
          );
        if (!ok) issues.push(`messages[${i}].tool_calls must be [{ function: { name, arguments } }] with string name and arguments`);
      }
    }
  });
  if (issues.length) throw new ValidationError(where, issues);
}

export interface RenderOptions extends ChatTemplateOptions {
  /** Function tools offered to the model: rendered as Qwen2.5's <tools> system block. */
  tools?: readonly ToolSpec[];
}

/** What renders a conversation to the text a policy sees (built-in templates and Jinja ones alike). */
export interface ChatTemplate {
  render(messages: readonly ChatTurn[], opts?: RenderOptions): string;
  /** The markup the model writes tool calls in: "hermes" (<tool_call>{json}</tool_call>), or null when the template renders no tools. */
  readonly toolCallSyntax: "hermes" | null;
}

/** A built-in template as a ChatTemplate (tools in Qwen2.5's markup). */
export function builtinTemplate(name: ChatTemplateName, defaultSystem?: string): ChatTemplate {
  if (name !== "chatml" && name !== "plain")
    throw new ValidationError("builtinTemplate", [`template must be "chatml" or "plain", got ${String(name)}`]);
  return {
    toolCallSyntax: "hermes",
    render: (messages, opts = {}) => renderChat(name, messages, defaultSystem === undefined ? opts : { defaultSystem, ...opts }),
  };
}

/**
 * Renders messages.
 * - chatml: `<|im_start|>{role}\n{content}<|im_end|>\n` per message; the
 *   generation prompt is `<|im_start|>assistant\n`.
 * - plain: `{role}: {content}\n` per message; the generation prompt is
 *   `assistant: `. Models using it end a reply with their eos token.
 * Tools follow Qwen2.5's template in both: with tools, the first system message
 * (or the default system prompt) is followed by the <tools> block; an assistant
 * message's tool_calls become <tool_call> blocks after its content; consecutive
 * `tool` messages become one user turn of <tool_response> blocks. Under chatml
 * with Qwen's default system prompt the text equals Qwen2.5-Instruct's own
 * template rendered by Jinja (test/llm-tools.test.ts checks it).
 */
export function renderChat(template: ChatTemplateName, messages: readonly ChatTurn[], opts: RenderOptions = {}): string {
  validateMessages("applyChatTemplate", messages);
  const tools = opts.tools ?? [];
  if (!Array.isArray(tools) || tools.some((t: Partial<ToolSpec> | null) => typeof t?.function?.name !== "string"))
    throw new ValidationError("applyChatTemplate", ['tools must be [{ type: "function", function: { name, ... } }]']);
  if (opts.defaultSystem !== undefined) {
    if (typeof opts.defaultSystem !== "string") throw new ValidationError("applyChatTemplate", ["defaultSystem must be a string"]);
    // Qwen2's template adds its system prompt when the conversation has none.
    if (messages.length > 0 && messages[0].role !== "system") messages = [{ role: "system", content: opts.defaultSystem }, ...messages];
  }
  const turns: { role: string; body: string; tool?: boolean }[] = [];
  let rest = messages;
  if (tools.length) {
    const sys = messages[0]?.role === "system" ? messages[0].content : (opts.defaultSystem ?? "");
    if (messages[0]?.role === "system") rest = messages.slice(1);
    // Without a system prompt the block starts at its heading rather than with blank lines.
    const block = toolsSystemBlock(sys, tools);
    turns.push({ role: "system", body: sys ? block : block.replace(/^\n\n/, "") });
  }
  for (const m of rest) {
    if (m.role === "assistant" && m.tool_calls?.length) {
      const calls = m.tool_calls.map(toolCallBlock).join("\n");
      turns.push({ role: "assistant", body: m.content ? `${m.content}\n${calls}` : calls });
    } else if (m.role === "tool") {
      const last = turns.at(-1);
      if (last?.tool) last.body += `\n${toolResponseBlock(m.content)}`;
      else turns.push({ role: "user", body: toolResponseBlock(m.content), tool: true });
    } else turns.push({ role: m.role, body: m.content });
  }
  let out = "";
  if (template === "chatml") {
    for (const t of turns) out += `${CHATML_START}${t.role}\n${t.body}${CHATML_END}\n`;
    if (opts.addGenerationPrompt) out += `${CHATML_START}assistant\n`;
  } else {
    for (const t of turns) out += `${t.role}: ${t.body}\n`;
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
export function templateFromJinja(
  jinja: string | undefined,
  fallback: ChatTemplateName,
): { name: ChatTemplateName; defaultSystem?: string } {
  if (jinja === undefined) return { name: fallback };
  if (!jinja.includes(CHATML_START)) return { name: "plain" };
  const m = /<\|im_start\|>system(?:\\n|\n)([^'"{}]*?)<\|im_end\|>/.exec(jinja);
  return m ? { name: "chatml", defaultSystem: m[1].replace(/\\n/g, "\n") } : { name: "chatml" };
}

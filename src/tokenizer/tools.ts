// Tool calling in chat templates: the message and tool shapes (OpenAI's wire
// names, which HF Jinja chat templates also read), and the Hermes / Qwen2.5
// markup the built-in templates write: a <tools> system block, <tool_call>
// blocks in assistant replies, <tool_response> blocks for results.
import { parseJsonText } from "../types/json.js";
import type { ChatMessage } from "./tokenizer.js";

export interface ToolCall {
  id: string;
  type: "function";
  /** `arguments` is a JSON text, as OpenAI sends it. */
  function: { name: string; arguments: string };
}

/** A function tool as OpenAI's `tools` array holds it (parameters: a JSON schema). */
export interface ToolSpec {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

/** A chat message with the tool fields: assistant `tool_calls`, and a `tool` message's `tool_call_id`. */
export interface ChatTurn extends ChatMessage {
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  name?: string;
}

export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

/**
 * JSON as Python's `json.dumps(ensure_ascii=False)` writes it (", " and ": "
 * separators), which is what HF templates' `tojson` filter produces, so the
 * built-in templates and a model's own Jinja template render tools alike.
 */
export function pyJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return `[${v.map(pyJson).join(", ")}]`;
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x)}`).join(", ")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** Qwen2.5's tool preamble, after the system prompt. */
export function toolsSystemBlock(system: string, tools: readonly ToolSpec[]): string {
  return (
    `${system}\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n` +
    `You are provided with function signatures within <tools></tools> XML tags:\n<tools>` +
    tools.map((t) => `\n${pyJson(t)}`).join("") +
    `\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n` +
    `<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>`
  );
}

export function toolCallBlock(call: ToolCall): string {
  // the name goes in unescaped, as Qwen2.5's template writes it
  return `${TOOL_CALL_OPEN}\n{"name": "${call.function.name}", "arguments": ${pyJson(parseJsonText(call.function.arguments))}}\n${TOOL_CALL_CLOSE}`;
}

export function toolResponseBlock(content: string): string {
  return `<tool_response>\n${content}\n</tool_response>`;
}

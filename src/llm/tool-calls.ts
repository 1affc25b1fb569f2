// Tool calls in a generated reply (Hermes / Qwen2.5 markup): the
// <tool_call>{"name": ..., "arguments": {...}}</tool_call> blocks become
// OpenAI tool_calls; a reply whose markup does not parse stays text, with
// the reason kept, so a model's mistake is training signal, never a 500.
import { randomBytes } from "node:crypto";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN, type ToolCall, type ToolSpec } from "../tokenizer/tools.js";
import type { ToolChoice } from "./backend.js";

export type ParsedReply = { content: string; toolCalls: ToolCall[] } | { error: string };

const isRec = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function toolCallId(prefix = "call_"): string {
  return prefix + randomBytes(12).toString("base64url");
}

/**
 * Splits a reply into text and tool calls. No <tool_call> at all: null. Every
 * block must close and hold `{"name": string, "arguments": object}` naming an
 * offered tool, or the whole reply is returned as an error (and stays text).
 */
export function parseToolCalls(text: string, tools: readonly ToolSpec[], idPrefix?: string): ParsedReply | null {
  if (!text.includes(TOOL_CALL_OPEN)) return null;
  const names = new Set(tools.map((t) => t.function.name));
  const calls: ToolCall[] = [];
  let content = "";
  let at = 0;
  for (;;) {
    const open = text.indexOf(TOOL_CALL_OPEN, at);
    if (open < 0) break;
    content += text.slice(at, open);
    const close = text.indexOf(TOOL_CALL_CLOSE, open);
    if (close < 0) return { error: `tool call ${calls.length + 1} has no ${TOOL_CALL_CLOSE}` };
    const inner = text.slice(open + TOOL_CALL_OPEN.length, close).trim();
    let v: unknown;
    try {
      v = JSON.parse(inner);
    } catch (e) {
      return { error: `tool call ${calls.length + 1} is not JSON: ${(e as Error).message}` };
    }
    if (!isRec(v) || typeof v.name !== "string") return { error: `tool call ${calls.length + 1} has no "name"` };
    if (!names.has(v.name)) return { error: `tool call ${calls.length + 1} names ${JSON.stringify(v.name)}, which is not an offered tool` };
    const args = v.arguments ?? v.parameters ?? {};
    if (!isRec(args)) return { error: `tool call ${calls.length + 1}: "arguments" must be a JSON object` };
    calls.push({ id: toolCallId(idPrefix), type: "function", function: { name: v.name, arguments: JSON.stringify(args) } });
    at = close + TOOL_CALL_CLOSE.length;
  }
  content += text.slice(at);
  return { content: content.trim(), toolCalls: calls };
}

/**
 * Text put after the generation prompt so the model must write a tool call:
 * "required" opens a call, a named choice writes its name too. The model
 * continues from there; the prefix is part of what it saw (prompt ids), not
 * of what it produced.
 */
export function forcedToolPrefix(choice: ToolChoice | undefined): string {
  if (choice === "required") return `${TOOL_CALL_OPEN}\n{"name": "`;
  if (typeof choice === "object") return `${TOOL_CALL_OPEN}\n{"name": "${choice.function.name}", "arguments": `;
  return "";
}

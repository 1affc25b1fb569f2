// Anthropic's Messages API (POST /v1/messages) over the same backends: the
// request becomes chat turns (system, text, tool_use -> tool_calls,
// tool_result -> tool messages), the result becomes a Message with text and
// tool_use blocks, or the SSE events Anthropic streams.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ChatTurn, ToolSpec } from "../tokenizer/tools.js";
import { parseJsonText } from "../types/json.js";
import type { GeneratedChoice, GenerateResult, ToolChoice } from "./backend.js";
import { ApiError, maxTokensField } from "./requests.js";

const cacheControl = z.looseObject({ type: z.string() }).nullable().optional();
const textBlock = z.strictObject({
  type: z.literal("text"),
  text: z.string(),
  cache_control: cacheControl,
  citations: z.array(z.unknown()).nullable().optional(),
});
const unsupported = z.looseObject({ type: z.string() }).check((ctx) => {
  ctx.issues.push({
    code: "custom",
    input: ctx.value,
    message: `content blocks of type ${JSON.stringify(ctx.value.type)} are not supported by this model`,
  });
});
const toolUse = z.strictObject({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  cache_control: cacheControl,
});
const toolResult = z.strictObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.union([textBlock, unsupported]))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});
const block = z.union([textBlock, toolUse, toolResult, unsupported]);

export const MessagesRequestSchema = z.strictObject({
  model: z.string().min(1),
  max_tokens: maxTokensField,
  messages: z.array(z.strictObject({ role: z.enum(["user", "assistant"]), content: z.union([z.string(), z.array(block)]) })).min(1),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  tools: z
    .array(
      z.strictObject({
        type: z.literal("custom").optional(),
        name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "tool names are 1-64 letters, digits, '_' or '-'"),
        description: z.string().optional(),
        input_schema: z.looseObject({ type: z.literal("object") }),
        cache_control: cacheControl,
      }),
    )
    .max(128)
    .optional(),
  tool_choice: z
    .union([
      z.strictObject({ type: z.enum(["auto", "any", "none"]), disable_parallel_tool_use: z.boolean().optional() }),
      z.strictObject({ type: z.literal("tool"), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }),
    ])
    .optional(),
  stop_sequences: z.array(z.string()).max(16).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  metadata: z.strictObject({ user_id: z.string().nullable().optional() }).optional(),
  thinking: z
    .strictObject(
      { type: z.literal("disabled") },
      { error: 'extended thinking is not supported by this model; send { type: "disabled" } or leave it out' },
    )
    .optional(),
  service_tier: z.string().optional(),
});
export type MessagesRequest = z.output<typeof MessagesRequestSchema>;
type Block =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }
  | { type: "tool_result"; tool_use_id: string; content?: string | { text: string }[]; is_error?: boolean };

/** The conversation as chat turns, and the tools and tool choice in OpenAI's terms. */
export function fromMessages(r: MessagesRequest): {
  messages: ChatTurn[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
} {
  const messages: ChatTurn[] = [];
  const system = typeof r.system === "string" ? r.system : r.system?.map((b) => b.text).join("\n");
  if (system) messages.push({ role: "system", content: system });
  for (const m of r.messages) {
    if (typeof m.content === "string") {
      messages.push({ role: m.role, content: m.content });
      continue;
    }
    // The schema refused every other block type, so these three are all there is.
    const blocks = m.content as Block[];
    if (m.role === "assistant") {
      const text = blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n");
      const calls = blocks.flatMap((b) =>
        b.type === "tool_use"
          ? [{ id: b.id, type: "function" as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }]
          : [],
      );
      messages.push({ role: "assistant", content: text, ...(calls.length ? { tool_calls: calls } : {}) });
      continue;
    }
    // A user message: its tool results become tool messages (in order), its text one user message after them.
    const texts: string[] = [];
    for (const b of blocks) {
      if (b.type === "tool_result") {
        const c = typeof b.content === "string" ? b.content : (b.content ?? []).map((x) => x.text).join("\n");
        // The template has no error flag; the model reads it in the text.
        messages.push({ role: "tool", content: b.is_error ? `Error: ${c}` : c, tool_call_id: b.tool_use_id });
      } else if (b.type === "text") texts.push(b.text);
    }
    if (texts.length) messages.push({ role: "user", content: texts.join("\n") });
  }
  const tools = r.tools?.map(
    (t): ToolSpec => ({
      type: "function",
      function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema },
    }),
  );
  const c = r.tool_choice;
  const toolChoice: ToolChoice | undefined =
    c === undefined
      ? undefined
      : c.type === "any"
        ? "required"
        : c.type === "tool"
          ? { type: "function", function: { name: c.name } }
          : c.type;
  return {
    messages,
    ...(tools?.length ? { tools } : {}),
    ...(toolChoice ? { toolChoice } : {}),
    ...(c?.disable_parallel_tool_use ? { parallelToolCalls: false } : {}),
  };
}

function stopReason(c: GeneratedChoice): string {
  if (c.finishReason === "tool_calls") return "tool_use";
  if (c.finishReason === "length") return "max_tokens";
  return c.stopSequence !== undefined ? "stop_sequence" : "end_turn";
}

/** The native parser only makes JSON objects; an upstream's arguments that are not one cannot be a tool_use input. */
function toolInput(args: string): Record<string, unknown> {
  const v = parseJsonText(args);
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ApiError(502, `the backend returned tool call arguments that are not a JSON object: ${args.slice(0, 200)}`, "upstream_error");
  return v as Record<string, unknown>;
}

function contentBlocks(c: GeneratedChoice) {
  const blocks: ({ type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: unknown })[] = [];
  if (c.text || !c.toolCalls?.length) blocks.push({ type: "text", text: c.text });
  for (const t of c.toolCalls ?? [])
    blocks.push({ type: "tool_use", id: t.id, name: t.function.name, input: toolInput(t.function.arguments) });
  return blocks;
}

export function messageId(): string {
  return `msg_${randomBytes(12).toString("base64url")}`;
}

export function messageBody(r: GenerateResult, id = messageId()) {
  const c = r.choices[0];
  return {
    id,
    type: "message",
    role: "assistant",
    model: r.model,
    content: contentBlocks(c),
    stop_reason: stopReason(c),
    stop_sequence: c.stopSequence ?? null,
    usage: { input_tokens: r.promptTokenIds.length, output_tokens: c.tokenIds.length },
    // Not in Anthropic's schema: what training needs, as the OpenAI routes send it.
    prompt_token_ids: r.promptTokenIds,
    token_ids: c.tokenIds,
  };
}

/** The events of Anthropic's stream for `r`, as [event name, data] pairs. */
export function messageEvents(r: GenerateResult): [string, unknown][] {
  const c = r.choices[0];
  const body = messageBody(r);
  const out: [string, unknown][] = [
    [
      "message_start",
      {
        type: "message_start",
        message: {
          ...body,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: body.usage.input_tokens, output_tokens: 0 },
        },
      },
    ],
  ];
  contentBlocks(c).forEach((b, index) => {
    if (b.type === "text") {
      out.push(["content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } }]);
      if (index === 0) out.push(["ping", { type: "ping" }]);
      const pieces = c.tokenTexts?.length ? c.tokenTexts.filter((p) => p) : [b.text];
      for (const text of pieces)
        if (text) out.push(["content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text } }]);
    } else {
      out.push([
        "content_block_start",
        { type: "content_block_start", index, content_block: { type: "tool_use", id: b.id, name: b.name, input: {} } },
      ]);
      const json = [...JSON.stringify(b.input)];
      for (let i = 0; i < json.length; i += 16)
        out.push([
          "content_block_delta",
          { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: json.slice(i, i + 16).join("") } },
        ]);
    }
    out.push(["content_block_stop", { type: "content_block_stop", index }]);
  });
  out.push([
    "message_delta",
    {
      type: "message_delta",
      delta: { stop_reason: body.stop_reason, stop_sequence: body.stop_sequence },
      usage: { output_tokens: body.usage.output_tokens },
    },
  ]);
  out.push(["message_stop", { type: "message_stop" }]);
  return out;
}

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "request_too_large",
  429: "rate_limit_error",
  502: "api_error",
  529: "overloaded_error",
};

/** Anthropic's error body for an ApiError. */
export function anthropicError(e: ApiError) {
  return { type: "error", error: { type: ERROR_TYPES[e.status] ?? "api_error", message: e.message } };
}

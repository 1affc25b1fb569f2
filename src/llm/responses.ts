// OpenAI's Responses API (POST /v1/responses) over the same backends, the way
// anthropic.ts serves Messages: the input items become chat turns (an
// assistant message and the function_call items after it are one assistant
// turn with tool_calls, as the model wrote them; function_call_output items
// are tool turns), the result becomes `message` and `function_call` output
// items, or the SSE events OpenAI streams. Nothing is stored: a response
// cannot be fetched or continued by id (previous_response_id is a 400; send
// the whole conversation as input). An upstream backend gets the request
// converted to chat completions (UpstreamBackend.generate, as for Messages),
// not passed through: its forward() speaks the chat and completion routes only.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ChatTurn, ToolCall, ToolSpec } from "../tokenizer/tools.js";
import type { GeneratedChoice, GenerateResult, ToolChoice } from "./backend.js";
import { slices } from "./openai-wire.js";
import { ApiError, maxTokensField, ToolSchema } from "./requests.js";

/** A schema that refuses any value but the neutral one, with the reason as its message. */
const refused = (why: string) => z.null({ error: why }).optional();
/**
 * One of `options` by its `type`; another type is refused by name. Chosen by type rather than tried in turn,
 * so the reason a known type's item fails is the one reported (a union would blame the type itself).
 */
function byType<const O extends readonly [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]>(what: string, options: O) {
  return z.discriminatedUnion("type", options, {
    error: (iss) => {
      const type = (iss.input as { type?: unknown } | null)?.type;
      return iss.code === "invalid_union" && typeof type === "string"
        ? `${what} of type ${JSON.stringify(type)} are not supported by this model`
        : undefined;
    },
  });
}

const inputText = z.strictObject({ type: z.literal("input_text"), text: z.string() });
const outputText = z.strictObject({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()).optional(),
  logprobs: z.array(z.unknown()).nullable().optional(),
});
const refusal = z.strictObject({ type: z.literal("refusal"), refusal: z.string() });
const itemStatus = z.enum(["in_progress", "completed", "incomplete"]).optional();

const message = z.strictObject({
  type: z.literal("message").optional(),
  id: z.string().optional(),
  status: itemStatus,
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(byType("content parts", [inputText, outputText, refusal]))]),
  // OpenAI marks an assistant message as commentary or the final answer; the template has no place for it
  phase: z.enum(["commentary", "final_answer"]).nullable().optional(),
});
const functionCall = z.strictObject({
  type: z.literal("function_call"),
  id: z.string().optional(),
  status: itemStatus,
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const functionCallOutput = z.strictObject({
  type: z.literal("function_call_output"),
  id: z.string().nullable().optional(),
  status: itemStatus.nullable(),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(byType("function_call_output parts", [inputText]))]),
});
const item = byType("input items", [message, functionCall, functionCallOutput]);

const functionTool = z.strictObject({
  type: z.literal("function"),
  name: ToolSchema.shape.function.shape.name,
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

/** `include` values this proxy honours; any other is a 400 naming it. */
const LOGPROBS = "message.output_text.logprobs";

/** OpenAI's Responses request, every field the native backend can honour; an unknown one is a 400 naming it. */
export const ResponsesRequestSchema = z.strictObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(item).min(1)]),
  instructions: z.string().nullable().optional(),
  tools: z
    .array(byType("tools", [functionTool]))
    .max(128)
    .optional(),
  tool_choice: z
    .union([
      z.enum(["auto", "none", "required"]),
      byType("tool choices", [z.strictObject({ type: z.literal("function"), name: z.string().min(1) })]),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_output_tokens: maxTokensField.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullable().optional(),
  include: z
    .array(z.literal(LOGPROBS, { error: `the only include this model answers is ${JSON.stringify(LOGPROBS)}` }))
    .nullable()
    .optional(),
  top_logprobs: z.literal(0, { error: "only the sampled token's logprob is returned; top alternatives are not" }).nullable().optional(),
  text: z
    .strictObject({
      format: z
        .looseObject({
          type: z.literal("text", { error: "structured output cannot be enforced by this model; ask for JSON in the prompt and parse it" }),
        })
        .optional(),
      verbosity: z.literal("medium", { error: "verbosity cannot be set on this model" }).nullable().optional(),
    })
    .nullable()
    .optional(),
  truncation: z.literal("disabled", { error: "this model does not truncate input; send what fits" }).nullable().optional(),
  // Fields that change nothing here: responses are never stored, so store: true promises nothing either way.
  store: z.boolean().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  user: z.string().optional(),
  safety_identifier: z.string().optional(),
  prompt_cache_key: z.string().optional(),
  prompt_cache_retention: z.string().nullable().optional(),
  service_tier: z.string().nullable().optional(),
  background: z.literal(false, { error: "background responses are not supported; leave it out" }).nullable().optional(),
  previous_response_id: refused("responses are not stored here; send the whole conversation as input"),
  conversation: refused("conversations are not stored here; send the whole conversation as input"),
  prompt: refused("stored prompt templates are not supported; send instructions and input"),
  reasoning: refused("reasoning settings are not supported by this model"),
  max_tool_calls: refused("max_tool_calls is not supported by this model"),
  context_management: refused("context management is not supported by this model"),
});
export type ResponsesRequest = z.output<typeof ResponsesRequestSchema>;

type Item =
  | { type?: "message"; role: "user" | "assistant" | "system" | "developer"; content: string | Part[] }
  | { type: "function_call"; call_id: string; name: string; arguments: string }
  | { type: "function_call_output"; call_id: string; output: string | { text: string }[] };
type Part = { type: "input_text" | "output_text"; text: string } | { type: "refusal"; refusal: string };

// Parts join with nothing between them, as the chat route's multi-part content does.
const partsText = (parts: string | Part[]) =>
  typeof parts === "string" ? parts : parts.map((p) => ("text" in p ? p.text : p.refusal)).join("");

/** The conversation as chat turns, and the tools and tool choice in chat terms. */
export function fromResponses(r: ResponsesRequest): {
  messages: ChatTurn[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
} {
  const messages: ChatTurn[] = [];
  if (r.instructions) messages.push({ role: "system", content: r.instructions });
  // The schema refused every other item type, so these three are all there is.
  const items: Item[] = typeof r.input === "string" ? [{ role: "user", content: r.input }] : (r.input as Item[]);
  for (const it of items) {
    if (it.type === "function_call") {
      const call: ToolCall = { id: it.call_id, type: "function", function: { name: it.name, arguments: it.arguments } };
      // One model reply is a message item then its function_call items: one assistant turn, as it was generated.
      const last = messages.at(-1);
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: "assistant", content: "", tool_calls: [call] });
    } else if (it.type === "function_call_output") {
      messages.push({ role: "tool", content: partsText(it.output as Part[]), tool_call_id: it.call_id });
    } else messages.push({ role: it.role === "developer" ? "system" : it.role, content: partsText(it.content) });
  }
  const tools = (r.tools as z.output<typeof functionTool>[] | undefined)?.map(
    (t): ToolSpec => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        ...(t.parameters ? { parameters: t.parameters } : {}),
        ...(t.strict != null ? { strict: t.strict } : {}),
      },
    }),
  );
  const c = r.tool_choice as "auto" | "none" | "required" | { type: "function"; name: string } | undefined;
  const toolChoice: ToolChoice | undefined = typeof c === "object" ? { type: "function", function: { name: c.name } } : c;
  return {
    messages,
    ...(tools?.length ? { tools } : {}),
    ...(toolChoice ? { toolChoice } : {}),
    ...(r.parallel_tool_calls != null ? { parallelToolCalls: r.parallel_tool_calls } : {}),
  };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("base64url")}`;

type OutputItem =
  | { type: "message"; id: string; status: string; role: "assistant"; content: ReturnType<typeof textPart>[] }
  | { type: "function_call"; id: string; status: "completed"; call_id: string; name: string; arguments: string };

function textPart(text: string, logprobs: unknown[]) {
  return { type: "output_text" as const, text, annotations: [] as unknown[], logprobs };
}

/** Per-token logprobs as OpenAI's output_text carries them (asked for with include). */
function tokenLogprobs(c: GeneratedChoice, from = 0, to = c.logprobs.length) {
  const texts = c.tokenTexts?.length === c.tokenIds.length ? c.tokenTexts : null;
  return c.logprobs.slice(from, to).map((logprob, k) => {
    // a token that ends mid-character has no text of its own (the next one carries it)
    const token = texts?.[from + k] ?? "";
    return { token, logprob, bytes: [...Buffer.from(token, "utf8")], top_logprobs: [] };
  });
}

function outputItems(c: GeneratedChoice, logprobs: boolean): OutputItem[] {
  const status = c.finishReason === "length" ? "incomplete" : "completed";
  const out: OutputItem[] = [];
  // The same rule as a Message's blocks: text when there is some or nothing else.
  if (c.text || !c.toolCalls?.length)
    out.push({
      type: "message",
      id: newId("msg"),
      status,
      role: "assistant",
      content: [textPart(c.text, logprobs && !c.toolCalls?.length ? tokenLogprobs(c) : [])],
    });
  for (const t of c.toolCalls ?? [])
    out.push({
      type: "function_call",
      id: newId("fc"),
      status: "completed",
      call_id: t.id,
      name: t.function.name,
      arguments: t.function.arguments,
    });
  return out;
}

/** The one choice a Responses request asks for (an upstream that answers with none is the upstream's fault). */
function onlyChoice(r: GenerateResult): GeneratedChoice {
  const c = r.choices[0];
  if (!c) throw new ApiError(502, "the backend returned no choices", "upstream_error");
  return c;
}

/** The Response object for `r`; the request's settings echo back as OpenAI's do. */
export function responseBody(r: GenerateResult, req: ResponsesRequest, id = newId("resp"), output?: OutputItem[]) {
  const c = onlyChoice(r);
  const items = output ?? outputItems(c, !!req.include?.includes(LOGPROBS));
  const text = items.flatMap((i) => (i.type === "message" ? i.content.map((p) => p.text) : [])).join("");
  const incomplete = c.finishReason === "length";
  return {
    id,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status: incomplete ? "incomplete" : "completed",
    error: null,
    incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    model: r.model,
    output: items,
    output_text: text,
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: req.temperature ?? 1,
    text: { format: { type: "text" } },
    tool_choice: req.tool_choice ?? "auto",
    tools: req.tools ?? [],
    top_p: req.top_p ?? 1,
    truncation: "disabled",
    usage: {
      input_tokens: r.promptTokenIds.length,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: c.tokenIds.length,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: r.promptTokenIds.length + c.tokenIds.length,
    },
    user: req.user ?? null,
    metadata: req.metadata ?? {},
    // Not in OpenAI's schema: what training needs, as the chat route sends it.
    prompt_token_ids: r.promptTokenIds,
    token_ids: c.tokenIds,
  };
}

/** The events of OpenAI's Responses stream for `r`, as [event name, data] pairs (each data carries its type and sequence number). */
export function responseEvents(r: GenerateResult, req: ResponsesRequest): [string, unknown][] {
  const c = onlyChoice(r);
  const logprobs = !!req.include?.includes(LOGPROBS);
  const items = outputItems(c, logprobs);
  const done = responseBody(r, req, undefined, items);
  const out: [string, unknown][] = [];
  const emit = (type: string, data: Record<string, unknown>) => out.push([type, { type, sequence_number: out.length, ...data }]);
  const started = { ...done, status: "in_progress", incomplete_details: null, output: [], output_text: "", usage: null };
  emit("response.created", { response: started });
  emit("response.in_progress", { response: started });
  items.forEach((item, output_index) => {
    if (item.type === "message") {
      const part = item.content[0];
      const at = { item_id: item.id, output_index, content_index: 0 };
      emit("response.output_item.added", { output_index, item: { ...item, status: "in_progress", content: [] } });
      emit("response.content_part.added", { ...at, part: textPart("", []) });
      // One delta per generated token, as the chat route streams; a token without text of its own (mid-character)
      // sends its logprob with the next delta.
      const perToken = !c.toolCalls?.length && c.tokenTexts?.length === c.tokenIds.length;
      let from = 0;
      if (perToken)
        c.tokenTexts?.forEach((delta, k) => {
          if (!delta) return;
          emit("response.output_text.delta", { ...at, delta, logprobs: logprobs ? tokenLogprobs(c, from, k + 1) : [] });
          from = k + 1;
        });
      else if (part.text) emit("response.output_text.delta", { ...at, delta: part.text, logprobs: part.logprobs });
      emit("response.output_text.done", { ...at, text: part.text, logprobs: part.logprobs });
      emit("response.content_part.done", { ...at, part });
    } else {
      emit("response.output_item.added", { output_index, item: { ...item, status: "in_progress", arguments: "" } });
      for (const delta of slices(item.arguments, 16))
        emit("response.function_call_arguments.delta", { item_id: item.id, output_index, delta });
      emit("response.function_call_arguments.done", { item_id: item.id, output_index, name: item.name, arguments: item.arguments });
    }
    emit("response.output_item.done", { output_index, item });
  });
  emit(done.status === "incomplete" ? "response.incomplete" : "response.completed", { response: done });
  return out;
}

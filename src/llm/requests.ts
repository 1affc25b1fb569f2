// Request bodies the proxy accepts, validated the way OpenAI does: a bad
// field gets a 400 with an OpenAI-style error body naming it.
import { z } from "zod";
import type { ChatTurn } from "../tokenizer/tools.js";
import { isPlainObject } from "../types/json.js";

const stop = z
  .union([z.string(), z.array(z.string()).max(16)])
  .nullable()
  .optional();

/** Fields a client may send that change nothing here (or only when left at their neutral value, checked in nativeLimits). */
const neutral = {
  user: z.string().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  store: z.boolean().nullable().optional(),
  service_tier: z.string().nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
};

/** A request's token limit, as every API the proxy speaks bounds it. */
export const maxTokensField = z
  .number()
  .int()
  .min(1)
  .max(1 << 16);

const sampling = {
  model: z.string().min(1),
  n: z.number().int().min(1).max(64).default(1),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  max_tokens: maxTokensField.nullable().optional(),
  max_completion_tokens: maxTokensField.nullable().optional(),
  stop,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  stream: z.boolean().default(false),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  logprobs: z
    .union([z.boolean(), z.number().int().min(0).max(20)])
    .nullable()
    .optional(),
  ...neutral,
};

// Multi-part content: text parts are joined; any other part (image_url, input_audio, file) names itself in a 400.
const part = z.union([
  z.strictObject({ type: z.literal("text"), text: z.string() }),
  z.looseObject({ type: z.string() }).check((ctx) => {
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      message: `content parts of type ${JSON.stringify(ctx.value.type)} are not supported by this model (text only)`,
    });
  }),
]);
const text = z.union([z.string(), z.array(part).transform((parts) => parts.map((p) => ("text" in p ? String(p.text) : "")).join(""))]);

const toolCall = z.strictObject({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const message = z.discriminatedUnion("role", [
  z.strictObject({ role: z.enum(["system", "developer"]), content: text, name: z.string().optional() }),
  z.strictObject({ role: z.literal("user"), content: text, name: z.string().optional() }),
  z.strictObject({
    role: z.literal("assistant"),
    content: text.nullable().optional(),
    name: z.string().optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCall).optional(),
  }),
  // LangChain.js names the tool on its tool messages; templates may show it (ChatTurn.name)
  z.strictObject({ role: z.literal("tool"), content: text, tool_call_id: z.string().min(1), name: z.string().optional() }),
]);

export const ToolSchema = z.strictObject({
  type: z.literal("function"),
  function: z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "function names are 1-64 letters, digits, '_', '.' or '-'"),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.strictObject({ type: z.literal("function"), function: z.strictObject({ name: z.string().min(1) }) }),
]);

const responseFormat = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({ type: z.literal("json_schema"), json_schema: z.looseObject({ name: z.string() }) }),
]);

/** OpenAI's chat request, every field the native backend can honour; an unknown one is a 400 naming it (zod's strict objects). */
export const ChatRequestSchema = z.strictObject({
  ...sampling,
  messages: z.array(message).min(1),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  tools: z.array(ToolSchema).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: responseFormat.optional(),
});
export type ChatRequest = z.output<typeof ChatRequestSchema>;

export const CompletionRequestSchema = z.strictObject({
  ...sampling,
  prompt: z.string(),
  echo: z.boolean().optional(),
});
export type CompletionRequest = z.output<typeof CompletionRequestSchema>;

/** What the proxy itself reads of a request it forwards unchanged to an upstream (the upstream judges the rest). */
export const ForwardedRequestSchema = z.looseObject({
  model: z.string().min(1),
  stream: z.boolean().optional(),
  messages: z.array(z.unknown()).optional(),
  prompt: z.unknown().optional(),
});

/** Values the native policy cannot honour, each a 400 naming its field (nothing is ignored silently). */
export function nativeLimits(r: ChatRequest | CompletionRequest): void {
  const refuse = (param: string, why: string) => {
    throw new ApiError(400, `${param}: ${why}`, "invalid_request_error", param, "unsupported_value");
  };
  if (r.frequency_penalty) refuse("frequency_penalty", "penalties are not supported by this model; send 0 or leave it out");
  if (r.presence_penalty) refuse("presence_penalty", "penalties are not supported by this model; send 0 or leave it out");
  if (r.logit_bias && Object.keys(r.logit_bias).length) refuse("logit_bias", "logit_bias is not supported by this model");
  if (typeof r.logprobs === "number" && r.logprobs > 0)
    refuse("logprobs", "only the sampled token's logprob is returned; top alternatives are not");
  if ("top_logprobs" in r && r.top_logprobs)
    refuse("top_logprobs", "only the sampled token's logprob is returned; top alternatives are not");
  if ("echo" in r && r.echo) refuse("echo", "echo is not supported by this model");
  if ("response_format" in r && r.response_format && r.response_format.type !== "text")
    refuse("response_format", `${r.response_format.type} output cannot be enforced by this model; ask for JSON in the prompt and parse it`);
}

/** The chat request's messages as template turns (developer = system, text parts joined, tool fields kept). */
export function chatTurns(r: ChatRequest): ChatTurn[] {
  return r.messages.map((m): ChatTurn => {
    switch (m.role) {
      case "assistant":
        return {
          role: "assistant",
          content: m.content ?? "",
          ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}),
          ...(m.name ? { name: m.name } : {}),
        };
      case "tool":
        return { role: "tool", content: m.content, tool_call_id: m.tool_call_id, ...(m.name ? { name: m.name } : {}) };
      case "developer":
        return { role: "system", content: m.content };
      default:
        return { role: m.role, content: m.content, ...(m.name ? { name: m.name } : {}) };
    }
  });
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/**
 * The chat request most clients send (plain text turns, sampling fields), checked in plain code:
 * the same rules as ChatRequestSchema and the same output, or undefined for anything else, which
 * zod then judges (and words the error for). zod's generic path cost ~2 us a request alone but
 * 15-20 us inside a running loop (bench/loop/overhead.ts profile; issue 14); test/llm-requests.test.ts
 * holds the two to the same answers.
 */
export function plainChatRequest(body: unknown): ChatRequest | undefined {
  if (!isPlainObject(body)) return undefined;
  const b = body;
  const out: Record<string, unknown> = { n: 1, temperature: 1, top_p: 1, stream: false };
  for (const k in b) {
    const v = b[k];
    switch (k) {
      case "model":
        if (typeof v !== "string" || !v) return undefined;
        break;
      case "messages":
        if (!plainMessages(v)) return undefined;
        out.messages = (v as Record<string, unknown>[]).map((m) =>
          m.name === undefined ? { role: m.role, content: m.content } : { role: m.role, content: m.content, name: m.name },
        );
        continue;
      case "temperature":
        if (!isNum(v) || v < 0 || v > 2) return undefined;
        break;
      case "top_p":
        if (!isNum(v) || v <= 0 || v > 1) return undefined;
        break;
      case "n":
        if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 64) return undefined;
        break;
      case "max_tokens":
      case "max_completion_tokens":
        if (v !== null && (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 1 << 16)) return undefined;
        break;
      case "seed":
        if (v !== null && (!Number.isSafeInteger(v) || (v as number) < 0)) return undefined;
        break;
      case "stream":
        if (typeof v !== "boolean") return undefined;
        break;
      case "stop":
        if (v !== null && typeof v !== "string" && !(Array.isArray(v) && v.length <= 16 && v.every((x) => typeof x === "string")))
          return undefined;
        out.stop = Array.isArray(v) ? [...v] : v;
        continue;
      case "user":
        if (typeof v !== "string") return undefined;
        break;
      default:
        return undefined;
    }
    out[k] = v;
  }
  return out.model === undefined || out.messages === undefined ? undefined : (out as ChatRequest);
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

const PLAIN_ROLES = new Set(["system", "developer", "user", "assistant"]);

/** A non-empty array of { role, content: string, name?: string } turns without tool calls. */
function plainMessages(v: unknown): boolean {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (const m of v) {
    if (!isPlainObject(m)) return false;
    let keys = 0;
    for (const k in m) {
      keys++;
      if (k !== "role" && k !== "content" && k !== "name") return false;
    }
    if (!PLAIN_ROLES.has(m.role as string) || typeof m.content !== "string") return false;
    if (m.name !== undefined && typeof m.name !== "string") return false;
    if (keys !== (m.name === undefined ? 2 : 3)) return false;
  }
  return true;
}

export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => explain(i, []));
  const param = issues[0]?.path || null;
  throw new ApiError(400, issues.map((i) => `${i.path || "body"}: ${i.message}`).join("; "), "invalid_request_error", param);
}

/** A union's "Invalid input" says nothing; the reason is inside the branch that got furthest (or a custom refusal). */
function explain(issue: z.core.$ZodIssue, at: PropertyKey[]): { path: string; message: string } {
  const path = [...at, ...issue.path];
  if (issue.code === "invalid_union" && issue.errors.length) {
    const branches = issue.errors.flat();
    const pick =
      branches.find((b) => b.code === "custom") ?? branches.reduce((a, b) => (b.path.length > a.path.length ? b : a), branches[0]);
    if (pick) return explain(pick, path);
  }
  return { path: path.map(String).join("."), message: issue.message };
}

export function stops(s: string | string[] | null | undefined): string[] {
  return s == null ? [] : typeof s === "string" ? [s] : s;
}

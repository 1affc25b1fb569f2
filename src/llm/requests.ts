// Request bodies the proxy accepts, validated the way OpenAI does: a bad
// field gets a 400 with an OpenAI-style error body naming it.
import { z } from "zod";

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullable().optional();

const sampling = {
  model: z.string().min(1),
  n: z.number().int().min(1).max(64).default(1),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  max_tokens: z.number().int().min(1).max(1 << 16).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).max(1 << 16).nullable().optional(),
  stop,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  stream: z.boolean().default(false),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  logprobs: z.union([z.boolean(), z.number().int().min(0).max(20)]).nullable().optional(),
  user: z.string().optional(),
};

const content = z.union([
  z.string(),
  z.array(z.object({ type: z.literal("text"), text: z.string() })).transform((parts) => parts.map((p) => p.text).join("")),
]);

export const ChatRequestSchema = z.object({
  ...sampling,
  messages: z
    .array(z.object({ role: z.enum(["system", "user", "assistant", "developer", "tool"]), content: content.nullable().transform((c) => c ?? ""), name: z.string().optional() }))
    .min(1),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
});
export type ChatRequest = z.output<typeof ChatRequestSchema>;

export const CompletionRequestSchema = z.object({
  ...sampling,
  prompt: z.string(),
  echo: z.boolean().optional(),
});
export type CompletionRequest = z.output<typeof CompletionRequestSchema>;

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

export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const param = first?.path.join(".") || null;
  throw new ApiError(400, r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "), "invalid_request_error", param);
}

export function stops(s: string | string[] | null | undefined): string[] {
  return s == null ? [] : typeof s === "string" ? [s] : s;
}

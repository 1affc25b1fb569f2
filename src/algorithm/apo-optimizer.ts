// The optimizer LLM's two jobs in APO: a critique of the prompt from the
// worst and best rollouts (the "textual gradient"), and an edit that applies
// it. Any OpenAI-compatible endpoint, reached with the `openai` client; the
// calls run inside the algorithm's trace scope, so each one is a span.
import OpenAI from "openai";
import { z } from "zod";
import { GEN_AI, type PromptTemplate, type Span } from "../types/index.js";
import { parseJsonText, toJsonText } from "../types/json.js";
import { instrumentOpenAI, withScope, type TraceScope } from "../tracer/index.js";

export const OptimizerSchema = z
  .object({
    baseURL: z.string().url("optimizer.baseURL must be an http(s) URL of an OpenAI-compatible API"),
    apiKey: z.string().default("none"),
    model: z.string().min(1),
    /** Sampling temperature of critiques and edits; a little keeps the children of one parent apart. */
    temperature: z.number().min(0).max(2).default(0.7),
    maxTokens: z.number().int().min(16).max(32_000).default(1024),
    timeoutMs: z.number().int().min(100).default(120_000),
  })
  .strict();
export type OptimizerConfig = z.input<typeof OptimizerSchema>;

/** What the optimizer sees of one rollout. */
export interface RolloutExample {
  task: unknown;
  reward: number;
  /** The agent's LLM calls, as "role: text" lines. */
  trace: string;
}

// Markers the requests carry, so logs (and the scripted test optimizer) can tell the two jobs apart.
export const CRITIQUE_MARK = "## Job: critique the prompt";
export const EDIT_MARK = "## Job: apply the critique";

const SYSTEM =
  "You improve the prompt template of an AI agent. The template has placeholders in braces that are filled with each task's fields; " +
  "a grader rewards each of the agent's answers. You see rollouts (task, the agent's LLM calls, reward) and reason about what in the prompt helps or hurts.";

/** Slot names of a template ({name} for f-string, {{name}} for mustache). */
export function placeholders(t: PromptTemplate): string[] {
  const re = t.engine === "mustache" ? /\{\{\s*(\w+)\s*\}\}/g : /\{(\w+)\}/g;
  return [...new Set([...t.template.matchAll(re)].map((m) => m[1]))].sort();
}

export function critiqueMessages(
  t: PromptTemplate,
  examples: RolloutExample[],
  range: readonly [number, number],
): OpenAI.Chat.ChatCompletionMessageParam[] {
  const shown = examples
    .map(
      (e, i) =>
        `### Rollout ${i + 1}: reward ${fmt(e.reward)}\nTask: ${clip(JSON.stringify(e.task), 600)}\nTrace:\n${clip(e.trace || "(no LLM calls recorded)", 1500)}`,
    )
    .join("\n\n");
  return [
    { role: "system", content: SYSTEM },
    {
      role: "user",
      content:
        `${CRITIQUE_MARK}\nPrompt template:\n<prompt>\n${t.template}\n</prompt>\n\n` +
        `Rollouts with this prompt, worst first (rewards range from ${range[0]} to ${range[1]}):\n\n${shown}\n\n` +
        "What in the prompt makes the low-reward rollouts fail, and what made the high-reward ones work? " +
        "Give short, concrete criticism of the prompt that says how it should change. Do not write the new prompt.",
    },
  ];
}

export function editMessages(
  t: PromptTemplate,
  critique: string,
  variant: number,
  variants: number,
): OpenAI.Chat.ChatCompletionMessageParam[] {
  const slots = placeholders(t);
  return [
    { role: "system", content: SYSTEM },
    {
      role: "user",
      content:
        `${EDIT_MARK}\nPrompt template:\n<prompt>\n${t.template}\n</prompt>\n\nCritique:\n${critique}\n\n` +
        `Write an improved prompt template that applies the critique. ` +
        (slots.length
          ? `Keep every placeholder (${slots.map((s) => (t.engine === "mustache" ? `{{${s}}}` : `{${s}}`)).join(", ")}) exactly as written. `
          : "") +
        `This is variant ${variant} of ${variants}: make it differ from the other variants. ` +
        "Answer with the new template only, between <prompt> and </prompt>.",
    },
  ];
}

/** The new template from an edit reply: inside <prompt>...</prompt>, else a fenced block, else the whole reply. */
export function parseEdit(reply: string): string {
  const tagged = /<prompt>\s*([\s\S]*?)\s*<\/prompt>/i.exec(reply);
  if (tagged) return tagged[1].trim();
  const fenced = /```[\w-]*\n([\s\S]*?)```/.exec(reply);
  if (fenced) return fenced[1].trim();
  return reply.trim();
}

/** Why a proposed template cannot be used, or null when it can. */
export function rejectEdit(parent: PromptTemplate, text: string, maxChars: number): string | null {
  if (!text) return "the reply held no prompt";
  if (text.length > maxChars) return `the prompt has ${text.length} characters (limit ${maxChars})`;
  const want = placeholders(parent);
  const got = placeholders({ ...parent, template: text });
  const missing = want.filter((p) => !got.includes(p));
  const extra = got.filter((p) => !want.includes(p));
  if (missing.length) return `placeholders dropped: ${missing.join(", ")}`;
  if (extra.length) return `unknown placeholders added: ${extra.join(", ")} (the agent only fills ${want.join(", ") || "none"})`;
  return null;
}

export class Optimizer {
  private readonly client: OpenAI;
  private ready: Promise<void> | null = null;
  constructor(readonly cfg: z.output<typeof OptimizerSchema>) {
    this.client = new OpenAI({ baseURL: cfg.baseURL, apiKey: cfg.apiKey, timeout: cfg.timeoutMs, maxRetries: 2 });
  }

  /** One chat call, recorded as an LLM span of `scope` (the algorithm's own rollout). */
  async complete(
    scope: TraceScope,
    messages: OpenAI.Chat.ChatCompletionMessageParam[],
    seed: number,
    signal: AbortSignal,
  ): Promise<string> {
    this.ready ??= instrumentOpenAI(this.client as never);
    await this.ready;
    const reply = await withScope(scope, () =>
      this.client.chat.completions.create(
        { model: this.cfg.model, messages, temperature: this.cfg.temperature, max_completion_tokens: this.cfg.maxTokens, seed },
        { signal },
      ),
    );
    await scope.flush();
    const text = reply.choices[0]?.message?.content;
    if (typeof text !== "string" || !text.trim())
      throw new Error(`optimizer ${this.cfg.model} returned no text (finish reason ${reply.choices[0]?.finish_reason ?? "none"})`);
    return text.trim();
  }
}

/** A rollout's LLM calls as text lines, for the critique. */
export function traceText(spans: readonly Span[]): string {
  const lines: string[] = [];
  for (const s of [...spans].sort((a, b) => a.sequenceId - b.sequenceId)) {
    const input = s.attributes[GEN_AI.inputMessages];
    const output = s.attributes[GEN_AI.outputMessages];
    if (typeof input !== "string") continue;
    for (const m of safeParse(input)) lines.push(`${m.role ?? "user"}: ${contentText(m.content)}`);
    if (typeof output === "string") for (const m of safeParse(output)) lines.push(`${m.role ?? "assistant"}: ${contentText(m.content)}`);
  }
  return lines.join("\n");
}

function safeParse(json: string): { role?: string; content?: unknown }[] {
  const v = parseJsonText(json);
  return Array.isArray(v) ? (v as { role?: string; content?: unknown }[]) : [];
}

function contentText(c: unknown): string {
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p === "string" ? p : ((p as { text?: string }).text ?? ""))).join("");
  return c === null || c === undefined ? "" : toJsonText(c);
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)} ...` : s);
const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(3));

import { z } from "zod";

/** An OpenAI-compatible endpoint the agent should call. */
export const LLMResourceSchema = z.object({
  resourceType: z.literal("llm"),
  endpoint: z.string().url(),
  model: z.string().min(1),
  samplingParameters: z.record(z.string(), z.unknown()).default({}),
  apiKey: z.string().optional(),
  /** An Arclight LLM proxy: runners hand each rollout its own base URL under it, so calls are attributed. */
  proxy: z.boolean().optional(),
});

export const PromptTemplateSchema = z.object({
  resourceType: z.literal("prompt_template"),
  template: z.string(),
  engine: z.enum(["f-string", "mustache"]).default("f-string"),
});

/** Weights the trainer wrote; the proxy serves the newest. */
export const PolicyCheckpointSchema = z.object({
  resourceType: z.literal("checkpoint"),
  path: z.string().min(1),
  metadata: z.record(z.string(), z.unknown()).default({}),
});

export const ResourceSchema = z.discriminatedUnion("resourceType", [LLMResourceSchema, PromptTemplateSchema, PolicyCheckpointSchema]);
export type Resource = z.infer<typeof ResourceSchema>;
export type LLMResource = z.infer<typeof LLMResourceSchema>;
export type PromptTemplate = z.infer<typeof PromptTemplateSchema>;
export type PolicyCheckpoint = z.infer<typeof PolicyCheckpointSchema>;

export const NamedResourcesSchema = z.record(z.string().min(1), ResourceSchema);
export type NamedResources = z.infer<typeof NamedResourcesSchema>;

/** One version of a named set of resources. `version` counts updates of the same resourcesId from 1. */
export interface ResourcesUpdate {
  resourcesId: string;
  version: number;
  createTime: number;
  updateTime: number;
  resources: NamedResources;
}

/** Fills a prompt template's `{name}` (f-string) or `{{name}}` (mustache) slots. */
export function formatPrompt(t: PromptTemplate, values: Record<string, unknown>): string {
  const re = t.engine === "mustache" ? /\{\{\s*(\w+)\s*\}\}/g : /\{(\w+)\}/g;
  return t.template.replace(re, (m, k: string) => (k in values ? String(values[k]) : m));
}

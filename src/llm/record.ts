// An LLM call as a span in the calling rollout's attempt: the server-side
// truth of prompt ids, response ids and logprobs that training needs.
import { randomBytes } from "node:crypto";
import { GEN_AI, type SpanInput } from "../types/index.js";
import type { GenerateRequest, GenerateResult } from "./backend.js";

/** W3C Trace Context's `traceparent` (version 00): the caller's span the record nests under. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** The span a `traceparent` header names, or null when absent or malformed (all-zero ids are invalid). */
export function parseTraceparent(h: unknown): { traceId: string; spanId: string } | null {
  const m = typeof h === "string" ? TRACEPARENT.exec(h.trim()) : null;
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return null;
  return { traceId: m[1], spanId: m[2] };
}

export function llmCallSpan(
  ids: { rolloutId: string; attemptId: string },
  kind: "chat" | "text_completion",
  req: GenerateRequest,
  res: GenerateResult | null,
  startTime: number,
  error: Error | null,
  /** The client's span that made the call (its traceparent): the record nests under it in the rollout's trace. */
  parent: { traceId: string; spanId: string } | null = null,
): Omit<SpanInput, "sequenceId"> {
  const attributes: SpanInput["attributes"] = {
    [GEN_AI.operationName]: kind,
    [GEN_AI.system]: "arclight",
    [GEN_AI.providerName]: "arclight",
    [GEN_AI.requestModel]: req.model,
    [GEN_AI.requestTemperature]: req.temperature,
    [GEN_AI.requestTopP]: req.topP,
    [GEN_AI.requestMaxTokens]: req.maxTokens,
    [GEN_AI.inputMessages]: JSON.stringify(req.messages ?? [{ role: "user", content: req.prompt ?? "" }]),
    "arclight.llm.recorded_by": "proxy",
  };
  if (req.tools?.length) attributes["gen_ai.tool.definitions"] = JSON.stringify(req.tools);
  if (res) {
    attributes[GEN_AI.responseModel] = res.model;
    attributes[GEN_AI.responseFinishReasons] = res.choices.map((c) => c.finishReason);
    attributes[GEN_AI.usageInputTokens] = res.promptTokenIds.length;
    attributes[GEN_AI.usageOutputTokens] = res.choices.reduce((n, c) => n + c.tokenIds.length, 0);
    attributes[GEN_AI.outputMessages] = JSON.stringify(
      res.choices.map((c) => ({
        role: "assistant",
        content: c.text,
        ...(c.toolCalls?.length ? { tool_calls: c.toolCalls } : {}),
        ...(c.toolCallError ? { tool_call_error: c.toolCallError } : {}),
      })),
    );
    if (res.promptReuse) {
      // Prompt ids taken verbatim from earlier calls of the conversation, and whether re-tokenizing would have differed.
      attributes["arclight.llm.prompt_reused_tokens"] = res.promptReuse.reusedTokens;
      attributes["arclight.llm.retokenization_drift"] = res.promptReuse.drift;
    }
    attributes[GEN_AI.promptTokenIds] = res.promptTokenIds;
    res.choices.forEach((c, i) => {
      attributes[i === 0 ? GEN_AI.completionTokenIds : `gen_ai.completion.${i}.token_ids`] = c.tokenIds;
      attributes[i === 0 ? GEN_AI.completionLogprobs : `gen_ai.completion.${i}.logprobs`] = c.logprobs;
    });
  }
  return {
    rolloutId: ids.rolloutId,
    attemptId: ids.attemptId,
    traceId: parent?.traceId ?? randomBytes(16).toString("hex"),
    spanId: randomBytes(8).toString("hex"),
    parentId: parent?.spanId ?? null,
    name: `${kind} ${req.model}`,
    status: error ? { statusCode: "ERROR", description: error.message } : { statusCode: "OK" },
    attributes,
    events: [],
    links: [],
    startTime,
    endTime: Date.now(),
    resource: { attributes: { "service.name": "arclight-llm-proxy" }, schemaUrl: "" },
  };
}

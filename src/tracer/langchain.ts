// LangChain.js runs as OpenTelemetry spans in the rollout's trace: chains,
// tools and retrievers become spans with LangChain's parent links, model runs
// become GenAI LLM-call spans (framework-calls.ts: the instrumented openai
// client's span takes a model run's place when it made the call).
//
// Why our own callback handler and not @arizeai/openinference-instrumentation-langchain
// (the one OpenTelemetry instrumentation for LangChain.js on the registry): it
// writes OpenInference `llm.*` names rather than gen_ai.*, records every model
// run beside the client span that holds the token ids (frames would count each
// call twice), and pins @opentelemetry/instrumentation 0.46 beside this
// project's 0.2xx SDK.
//
// Registration: instrumentLangChain() wraps CallbackManager's configure step,
// through which every LangChain run gets its handlers, and adds this handler
// only while a rollout is active, so the agent's code does not change and runs
// outside rollouts are left alone. LangChain's own registerConfigureHook would
// not do: it stores hooks in the async context of the call that registered
// them, and a rollout's agent runs in a context of its own.
import { createRequire } from "node:module";
import { context, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import * as managerModule from "@langchain/core/callbacks/manager";
// LangChain's Node entry point for run context: it sets up the AsyncLocalStorage through which a run
// invoked inside another (a model called in a RunnableLambda or a LangGraph node) finds its parent.
// LangGraph loads it too; without it such runs start trees of their own and the nesting is lost.
import "@langchain/core/context";
import { GEN_AI } from "../types/index.js";
import { toAttributeValue } from "./attributes.js";
import { toJsonText } from "../types/json.js";
import {
  addModelStepFinder,
  addParentFinder,
  endModelStep,
  endWithError,
  startFrameworkSpan,
  type ModelCallReport,
  type ModelStep,
} from "./framework-calls.js";
import { activeScope, scopeOf, type TraceScope } from "./scope.js";

/** Attribute names for LangChain's run identity (no semconv covers them). */
export const LANGCHAIN = {
  runType: "langchain.run.type",
  runId: "langchain.run.id",
  runName: "langchain.run.name",
  tags: "langchain.run.tags",
  metadata: "langchain.run.metadata",
  inputs: "langchain.chain.inputs",
  outputs: "langchain.chain.outputs",
} as const;

const HANDLER_NAME = "arclight_otel_tracer";

interface Serialized {
  id?: string[];
  name?: string;
}

interface LcMessage {
  content?: unknown;
  tool_calls?: unknown[];
  tool_call_id?: string;
  name?: string;
  id?: string;
  role?: string;
  usage_metadata?: { input_tokens?: number; output_tokens?: number };
  getType?: () => string;
  _getType?: () => string;
  type?: string;
}

interface LlmResultLike {
  generations?: { text?: string; message?: LcMessage; generationInfo?: Record<string, unknown> }[][];
  llmOutput?: { tokenUsage?: { promptTokens?: number; completionTokens?: number } } | null;
}

interface OpenStep extends ModelStep {
  scope: TraceScope;
  parentRunId: string | undefined;
  report: ModelCallReport;
}

interface RunState {
  /** The context a child run starts in: this run's span, or the parent's for a model run (it has no span of its own yet). */
  ctx: Context;
  span: Span | null;
  step: OpenStep | null;
}

const runs = new Map<string, RunState>();
// Weak: a rollout that ended with a model run still open (aborted) must not keep its scope alive here.
const openSteps = new WeakMap<TraceScope, Set<OpenStep>>();

const ROLES: Record<string, string> = {
  human: "user",
  ai: "assistant",
  system: "system",
  tool: "tool",
  function: "function",
  developer: "developer",
};

function messageOf(m: LcMessage): Record<string, unknown> {
  const type = m.getType?.() ?? m._getType?.() ?? m.type ?? "unknown";
  const out: Record<string, unknown> = { role: ROLES[type] ?? m.role ?? type, content: m.content ?? null };
  if (m.tool_calls?.length) out.tool_calls = m.tool_calls;
  if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
  if (m.name) out.name = m.name;
  return out;
}

function runName(s: Serialized | undefined, name: string | undefined, fallback: string): string {
  return name || s?.name || s?.id?.at(-1) || fallback;
}

function identity(type: string, runId: string, name: string, tags?: string[], metadata?: Record<string, unknown>): Attributes {
  const a: Attributes = { [LANGCHAIN.runType]: type, [LANGCHAIN.runId]: runId, [LANGCHAIN.runName]: name };
  if (tags?.length) a[LANGCHAIN.tags] = tags;
  if (metadata && Object.keys(metadata).length) a[LANGCHAIN.metadata] = toJsonText(metadata);
  return a;
}

/** The context a run starts in: its parent run's, else the caller's; null outside a rollout (not recorded). */
function parentContext(parentRunId: string | undefined): Context | null {
  const ctx = (parentRunId && runs.get(parentRunId)?.ctx) || context.active();
  return scopeOf(ctx) ? ctx : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

class ArclightLangChainHandler extends BaseCallbackHandler {
  name = HANDLER_NAME;
  // Awaited, so each callback runs in the caller's async context (where the rollout scope is) and a model
  // run's step is open before the model call starts; LangChain's background queue would lose both.
  override awaitHandlers = true;

  private startSpanRun(runId: string, parentRunId: string | undefined, spanName: string, attributes: Attributes): void {
    const parent = parentContext(parentRunId);
    if (!parent) return;
    const span = startFrameworkSpan(spanName, attributes, parent);
    runs.set(runId, { ctx: trace.setSpan(parent, span), span, step: null });
  }

  private endSpanRun(runId: string, attributes: Attributes, error?: unknown): void {
    const r = runs.get(runId);
    if (!r?.span) return;
    runs.delete(runId);
    r.span.setAttributes(attributes);
    if (error !== undefined) endWithError(r.span, error);
    else r.span.end();
  }

  // CallbackManager passes (chain, inputs, runId, parentRunId, tags, metadata, runType, runName), as LangChain's
  // own BaseTracer reads them; the declared order (runType fourth, parentRunId eighth) is not what arrives.
  override handleChainStart(
    chain: Serialized,
    inputs: unknown,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    runType?: string,
    name?: string,
  ): void {
    const n = runName(chain, name, "chain");
    this.startSpanRun(runId, parentRunId, n, {
      ...identity(runType ?? "chain", runId, n, tags, metadata),
      [LANGCHAIN.inputs]: toJsonText(inputs),
    });
  }

  override handleChainEnd(outputs: unknown, runId: string): void {
    this.endSpanRun(runId, { [LANGCHAIN.outputs]: toJsonText(outputs) });
  }

  override handleChainError(err: unknown, runId: string): void {
    this.endSpanRun(runId, {}, err);
  }

  override handleToolStart(
    tool: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
    toolCallId?: string,
  ): void {
    const n = runName(tool, name, "tool");
    const a: Attributes = {
      ...identity("tool", runId, n, tags, metadata),
      [GEN_AI.operationName]: "execute_tool",
      [GEN_AI.toolName]: n,
      [GEN_AI.toolCallArguments]: toAttributeValue(input),
    };
    if (toolCallId) a[GEN_AI.toolCallId] = toolCallId;
    this.startSpanRun(runId, parentRunId, `execute_tool ${n}`, a);
  }

  override handleToolEnd(output: unknown, runId: string): void {
    // A tool called with a tool call returns a ToolMessage; its content is the result.
    const content = output && typeof output === "object" && "content" in output ? (output as { content: unknown }).content : output;
    this.endSpanRun(runId, { [GEN_AI.toolCallResult]: toAttributeValue(content ?? null) });
  }

  override handleToolError(err: unknown, runId: string): void {
    this.endSpanRun(runId, {}, err);
  }

  override handleRetrieverStart(
    retriever: Serialized,
    query: string,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    const n = runName(retriever, name, "retriever");
    this.startSpanRun(runId, parentRunId, n, { ...identity("retriever", runId, n, tags, metadata), [LANGCHAIN.inputs]: query });
  }

  override handleRetrieverEnd(documents: unknown[], runId: string): void {
    this.endSpanRun(runId, { [LANGCHAIN.outputs]: toJsonText(documents) });
  }

  override handleRetrieverError(err: unknown, runId: string): void {
    this.endSpanRun(runId, {}, err);
  }

  private startModelRun(
    kind: "chat" | "text_completion",
    llm: Serialized,
    input: unknown,
    runId: string,
    parentRunId: string | undefined,
    extra: Record<string, unknown> | undefined,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    const parent = parentContext(parentRunId);
    if (!parent) return;
    const n = runName(llm, name, "llm");
    const params = (extra?.invocation_params ?? {}) as Record<string, unknown>;
    const md = metadata ?? {};
    const step: OpenStep = {
      parent,
      attributes: identity("llm", runId, n, tags),
      calls: 0,
      proxySpan: null,
      scope: scopeOf(parent)!,
      parentRunId,
      startTime: Date.now(),
      report: {
        operation: kind,
        provider: (md.ls_provider as string | undefined) ?? null,
        model: ((md.ls_model_name ?? params.model ?? params.model_name) as string | undefined) ?? null,
        temperature: num(md.ls_temperature ?? params.temperature),
        topP: num(params.top_p),
        maxTokens: num(md.ls_max_tokens ?? params.max_completion_tokens ?? params.max_tokens),
        input,
      },
    };
    let set = openSteps.get(step.scope);
    if (!set) openSteps.set(step.scope, (set = new Set()));
    set.add(step);
    runs.set(runId, { ctx: parent, span: null, step });
  }

  override handleChatModelStart(
    llm: Serialized,
    messages: LcMessage[][],
    runId: string,
    parentRunId?: string,
    extra?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    this.startModelRun("chat", llm, (messages[0] ?? []).map(messageOf), runId, parentRunId, extra, tags, metadata, name);
  }

  override handleLLMStart(
    llm: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extra?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
    name?: string,
  ): void {
    this.startModelRun(
      "text_completion",
      llm,
      prompts.map((p) => ({ role: "user", content: p })),
      runId,
      parentRunId,
      extra,
      tags,
      metadata,
      name,
    );
  }

  /** Closes a model run; only a run whose call no client span recorded gets an LLM-call span here. */
  private endModelRun(runId: string, result: LlmResultLike | null, error?: unknown): void {
    const r = runs.get(runId);
    const step = r?.step;
    if (!step) return;
    runs.delete(runId);
    const set = openSteps.get(step.scope);
    set?.delete(step);
    if (set && !set.size) openSteps.delete(step.scope);
    if (step.calls > 0) return; // the client's span recorded this call
    const gens = result?.generations?.[0] ?? [];
    const first = gens[0];
    const usage = first?.message?.usage_metadata;
    const report: ModelCallReport = {
      ...step.report,
      inputTokens: num(usage?.input_tokens ?? result?.llmOutput?.tokenUsage?.promptTokens),
      outputTokens: num(usage?.output_tokens ?? result?.llmOutput?.tokenUsage?.completionTokens),
      responseId: first?.message?.id ?? null,
      finishReasons: gens.map((g) => String(g.generationInfo?.finish_reason ?? "unknown")),
    };
    if (result) report.output = gens.map((g) => (g.message ? messageOf(g.message) : { role: "assistant", content: g.text ?? null }));
    endModelStep(step, report, error);
  }

  override handleLLMEnd(output: LlmResultLike, runId: string): void {
    this.endModelRun(runId, output);
  }

  override handleLLMError(err: unknown, runId: string): void {
    this.endModelRun(runId, null, err);
  }
}

const LC_ALS = Symbol.for("ls:tracing_async_local_storage");
const LC_CHILD_CONFIG = Symbol.for("lc:child_config");

/**
 * The LangChain run the current code runs inside (a tool's or a lambda's function), from the config LangChain
 * keeps in its AsyncLocalStorage (read through its global key, as LangChain's own singletons do).
 */
function currentRunId(): string | undefined {
  const als = (globalThis as { [LC_ALS]?: { getStore?: () => unknown } })[LC_ALS];
  const store = als?.getStore?.() as { extra?: Record<symbol, { callbacks?: { getParentRunId?: () => unknown } }> } | undefined;
  const id = store?.extra?.[LC_CHILD_CONFIG]?.callbacks?.getParentRunId?.();
  return typeof id === "string" ? id : undefined;
}

// A client call belongs to the model run open in its rollout; LangChain gives the client no run id. With two
// open at once (parallel branches) the one started under the run the call is made in is it; if that does not
// single one out, the call is not claimed rather than guessed, and each run records its own call span.
addModelStepFinder((active) => {
  const scope = scopeOf(active);
  const set = scope && openSteps.get(scope);
  if (!set?.size) return undefined;
  if (set.size === 1) return set.values().next().value;
  const here = currentRunId();
  const mine = [...set].filter((s) => s.parentRunId === here);
  return mine.length === 1 ? mine[0] : undefined;
});

// Client calls made inside a LangChain run (a tool's function calling the openai client) nest under its span.
addParentFinder((active) => {
  if (!scopeOf(active)) return undefined;
  const id = currentRunId();
  const r = id ? runs.get(id) : undefined;
  return r?.span ? r.ctx : undefined;
});

const handler = new ArclightLangChainHandler();
const PATCHED = Symbol.for("arclight.langchain.patched");

type Configure = (this: unknown, ...args: unknown[]) => unknown;
interface ManagerLike {
  handlers: { name: string }[];
  addHandler(h: unknown, inherit?: boolean): void;
}
interface ManagerClass {
  new (): ManagerLike;
  _configureSync: Configure & { [PATCHED]?: true };
}

function patch(cls: ManagerClass | undefined): void {
  if (typeof cls?._configureSync !== "function" || cls._configureSync[PATCHED]) return;
  const orig = cls._configureSync;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const manager = orig.apply(this, args) as ManagerLike | undefined;
    if (!activeScope()) return manager;
    const m = manager ?? new cls();
    if (!m.handlers.some((h) => h.name === HANDLER_NAME)) m.addHandler(handler, true);
    return m;
  } as Configure & { [PATCHED]?: true };
  wrapped[PATCHED] = true;
  cls._configureSync = wrapped;
}

/** Traces every LangChain.js run made inside a rollout (ESM and CommonJS builds of @langchain/core). Idempotent. */
export function instrumentLangChain(): void {
  patch((managerModule as unknown as { CallbackManager: ManagerClass }).CallbackManager);
  try {
    patch((createRequire(import.meta.url)("@langchain/core/callbacks/manager") as { CallbackManager: ManagerClass }).CallbackManager);
  } catch {
    /* the ESM build alone is fine */
  }
}

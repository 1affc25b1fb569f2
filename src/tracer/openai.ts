// Instrumentation of the `openai` npm SDK: every chat / text completion is an
// LLM span with GenAI attributes, token ids and logprobs when the backend
// returns them. DESIGN.md: the published instrumentations failed to hook
// under ESM here and drop token ids, so we patch `create` ourselves.
import { createRequire } from "node:module";
import { context, SpanStatusCode, type Attributes, type Span } from "@opentelemetry/api";
import { GEN_AI } from "../types/index.js";
import { arclightTracer } from "./provider.js";
import { toJsonText } from "../types/json.js";
import { claimModelStep, frameworkParent } from "./framework-calls.js";
import { fetchLocally } from "./local-routes.js";

type Create = (this: unknown, body: Record<string, unknown>, options?: unknown) => unknown;
type Kind = "chat" | "text_completion";
const PATCHED = Symbol.for("arclight.openai.patched");
const ROUTED = Symbol.for("arclight.openai.localRoutes");

interface Choice {
  index?: number;
  message?: { role?: string; content?: string | null; tool_calls?: unknown };
  text?: string;
  finish_reason?: string | null;
  logprobs?: { content?: { logprob: number }[] | null; token_logprobs?: number[] } | null;
  token_ids?: number[];
}
interface ToolCallDelta {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}
interface Completion {
  id?: string;
  model?: string;
  choices?: Choice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  prompt_token_ids?: number[];
}

function requestAttributes(kind: Kind, body: Record<string, unknown>): Attributes {
  const a: Attributes = { [GEN_AI.operationName]: kind, [GEN_AI.system]: "openai", [GEN_AI.providerName]: "openai" };
  if (typeof body.model === "string") a[GEN_AI.requestModel] = body.model;
  if (typeof body.temperature === "number") a[GEN_AI.requestTemperature] = body.temperature;
  if (typeof body.top_p === "number") a[GEN_AI.requestTopP] = body.top_p;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === "number") a[GEN_AI.requestMaxTokens] = maxTokens;
  a[GEN_AI.inputMessages] = toJsonText(kind === "chat" ? body.messages : [{ role: "user", content: body.prompt }]);
  return a;
}

function choiceLogprobs(c: Choice): number[] | undefined {
  if (c.logprobs?.content) return c.logprobs.content.map((t) => t.logprob);
  if (c.logprobs?.token_logprobs) return c.logprobs.token_logprobs;
  return undefined;
}

function recordCompletion(span: Span, kind: Kind, r: Completion): void {
  const choices = r.choices ?? [];
  if (r.model) span.setAttribute(GEN_AI.responseModel, r.model);
  if (r.id) span.setAttribute(GEN_AI.responseId, r.id);
  span.setAttribute(
    GEN_AI.responseFinishReasons,
    choices.map((c) => c.finish_reason ?? "unknown"),
  );
  if (r.usage?.prompt_tokens !== undefined) span.setAttribute(GEN_AI.usageInputTokens, r.usage.prompt_tokens);
  if (r.usage?.completion_tokens !== undefined) span.setAttribute(GEN_AI.usageOutputTokens, r.usage.completion_tokens);
  const outputs = choices.map((c) =>
    kind === "chat"
      ? { role: c.message?.role ?? "assistant", content: c.message?.content ?? null, tool_calls: c.message?.tool_calls }
      : { role: "assistant", content: c.text ?? "" },
  );
  span.setAttribute(GEN_AI.outputMessages, toJsonText(outputs));
  if (Array.isArray(r.prompt_token_ids)) span.setAttribute(GEN_AI.promptTokenIds, r.prompt_token_ids);
  choices.forEach((c, i) => {
    // Choice 0 under the plain names, further choices (n > 1) indexed.
    const ids = i === 0 ? GEN_AI.completionTokenIds : `gen_ai.completion.${i}.token_ids`;
    const lps = i === 0 ? GEN_AI.completionLogprobs : `gen_ai.completion.${i}.logprobs`;
    if (Array.isArray(c.token_ids)) span.setAttribute(ids, c.token_ids);
    const lp = choiceLogprobs(c);
    if (lp) span.setAttribute(lps, lp);
  });
}

// Tells an Arclight LLM proxy that this call is traced here, so it is recorded once.
function withTracedHeader(options: unknown): unknown {
  if (options !== undefined && (typeof options !== "object" || options === null)) return options;
  const o = (options ?? {}) as { headers?: unknown };
  if (
    o.headers !== undefined &&
    (typeof o.headers !== "object" || o.headers === null || Array.isArray(o.headers) || o.headers instanceof Headers)
  )
    return options;
  return { ...o, headers: { ...(o.headers as Record<string, string> | undefined), "x-arclight-traced": "1" } };
}

function fail(span: Span, e: unknown): void {
  span.recordException(e instanceof Error ? e : new Error(String(e)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
  span.end();
}

/** Folds streamed chunks into the shape of a non-streamed completion. */
class ChunkAccumulator {
  private readonly r: Completion & { choices: Choice[] } = { choices: [] };
  constructor(private readonly kind: Kind) {}
  add(
    chunk: Completion & { choices?: (Choice & { delta?: { role?: string; content?: string | null; tool_calls?: ToolCallDelta[] } })[] },
  ): void {
    if (chunk.id) this.r.id = chunk.id;
    if (chunk.model) this.r.model = chunk.model;
    if (chunk.usage) this.r.usage = chunk.usage;
    if (chunk.prompt_token_ids) this.r.prompt_token_ids = chunk.prompt_token_ids;
    for (const c of chunk.choices ?? []) {
      const i = c.index ?? 0;
      const acc = (this.r.choices[i] ??= { index: i, message: { role: "assistant", content: "" }, text: "" });
      if (this.kind === "chat") {
        acc.message!.content = (acc.message!.content ?? "") + (c.delta?.content ?? "");
        // Tool calls stream as deltas keyed by index: id and name first, then the arguments in pieces.
        for (const t of c.delta?.tool_calls ?? []) {
          const calls = (acc.message!.tool_calls ??= []) as { id: string; type: string; function: { name: string; arguments: string } }[];
          const k = t.index ?? 0;
          const call = (calls[k] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
          if (t.id) call.id = t.id;
          if (t.function?.name) call.function.name += t.function.name;
          if (t.function?.arguments) call.function.arguments += t.function.arguments;
        }
      } else acc.text = (acc.text ?? "") + (c.text ?? "");
      if (c.finish_reason) acc.finish_reason = c.finish_reason;
      if (c.token_ids) acc.token_ids = [...(acc.token_ids ?? []), ...c.token_ids];
      const lp = choiceLogprobs(c);
      if (lp) acc.logprobs = { content: [...(acc.logprobs?.content ?? []), ...lp.map((logprob) => ({ logprob }))] };
    }
  }
  result(): Completion {
    return this.r;
  }
}

function traceStream(span: Span, kind: Kind, stream: AsyncIterable<unknown> & object): unknown {
  const acc = new ChunkAccumulator(kind);
  let ended = false;
  const finish = (e?: unknown) => {
    if (ended) return;
    ended = true;
    if (e !== undefined) return fail(span, e);
    recordCompletion(span, kind, acc.result());
    span.end();
  };
  return new Proxy(stream, {
    get(target, prop, receiver) {
      if (prop !== Symbol.asyncIterator) return Reflect.get(target, prop, receiver);
      return async function* () {
        try {
          for await (const chunk of target) {
            acc.add(chunk as Completion);
            yield chunk;
          }
          finish();
        } catch (e) {
          finish(e);
          throw e;
        } finally {
          // A consumer that breaks out early still gets its partial completion recorded.
          finish();
        }
      };
    },
  });
}

type Fetch = (url: unknown, init?: { body?: unknown }) => Promise<Response>;

/**
 * Lets the client reach an Arclight LLM proxy in this process without a socket (src/tracer/local-routes.ts):
 * its fetch answers requests for a local proxy's origin in process and sends the rest on. Only a client on
 * the default fetch: one given a fetch of its own keeps it for every request.
 */
function routeLocally(resource: unknown): void {
  const client = (resource as { _client?: { fetch?: unknown; [ROUTED]?: true } } | null)?._client;
  if (!client || typeof client !== "object" || client[ROUTED]) return;
  client[ROUTED] = true;
  const own = client.fetch;
  if (typeof own !== "function" || own !== globalThis.fetch) return;
  client.fetch = ((url, init) =>
    fetchLocally(url, init as Parameters<typeof fetchLocally>[1]) ?? (own as Fetch).call(undefined, url, init)) as Fetch;
}

function wrapCreate(orig: Create, kind: Kind): Create {
  const wrapped = function (this: unknown, body: Record<string, unknown>, options?: unknown) {
    if (!body || typeof body !== "object") return orig.call(this, body, options);
    routeLocally(this);
    const model = typeof body.model === "string" ? body.model : "unknown";
    // Inside a framework's model step (LangChain, Agents SDK) this span is that step's call: it takes the
    // step's place in the framework's tree and its identity, and the step records no second call span.
    // Elsewhere inside a framework run (a LangChain tool calling the client) it nests under that run.
    const active = context.active();
    const step = claimModelStep(active);
    const span = arclightTracer().startSpan(
      `${kind === "chat" ? "chat" : "text_completion"} ${model}`,
      { attributes: { ...step?.attributes, ...requestAttributes(kind, body) } },
      step?.parent ?? frameworkParent(active),
    );
    let p: unknown;
    try {
      p = orig.call(this, body, withTracedHeader(options));
    } catch (e) {
      fail(span, e);
      throw e;
    }
    const onData = (data: unknown) => {
      if (body.stream === true && data && typeof data === "object" && Symbol.asyncIterator in data)
        return traceStream(span, kind, data as AsyncIterable<unknown> & object);
      recordCompletion(span, kind, data as Completion);
      span.end();
      return data;
    };
    const ap = p as { _thenUnwrap?: (f: (d: unknown) => unknown) => Promise<unknown> };
    // _thenUnwrap keeps the SDK's APIPromise (withResponse, asResponse) intact for the caller. The
    // error handler goes on that same promise: a second APIPromise would read the body twice.
    const out = typeof ap._thenUnwrap === "function" ? ap._thenUnwrap(onData) : (p as Promise<unknown>).then(onData);
    out.then(undefined, (e: unknown) => fail(span, e));
    return out;
  } as Create & { [PATCHED]?: true };
  wrapped[PATCHED] = true;
  return wrapped;
}

function patchObject(obj: Record<string, unknown> | undefined, kind: Kind): boolean {
  if (!obj || typeof obj.create !== "function") return false;
  const create = obj.create as Create & { [PATCHED]?: true };
  if (create[PATCHED]) return false;
  obj.create = wrapCreate(create, kind);
  return true;
}

interface ClientLike {
  chat?: { completions?: Record<string, unknown> };
  completions?: Record<string, unknown>;
}

let globalDone = false;

/**
 * Instruments the `openai` SDK. With no argument it patches the SDK's
 * classes (its ESM and CommonJS builds both), so every client made anywhere
 * is traced; with a client it patches just that one. Idempotent.
 */
export async function instrumentOpenAI(client?: ClientLike): Promise<void> {
  if (client) {
    patchObject(client.chat?.completions, "chat");
    patchObject(client.completions, "text_completion");
    return;
  }
  if (globalDone) return;
  globalDone = true;
  const builds: unknown[] = [];
  try {
    builds.push(await import("openai"));
  } catch {
    return; // openai is optional: nothing to instrument
  }
  try {
    builds.push(createRequire(import.meta.url)("openai"));
  } catch {
    /* the ESM build alone is fine */
  }
  for (const mod of builds) {
    const OpenAI = ((mod as { default?: unknown }).default ?? (mod as { OpenAI?: unknown }).OpenAI) as new (o: object) => ClientLike;
    if (typeof OpenAI !== "function") continue;
    const probe = new OpenAI({ apiKey: "arclight-probe", baseURL: "http://127.0.0.1:9" });
    patchObject(Object.getPrototypeOf(probe.chat?.completions ?? {}), "chat");
    patchObject(Object.getPrototypeOf(probe.completions ?? {}), "text_completion");
  }
}

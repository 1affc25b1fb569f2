// The LLM proxy: an OpenAI-compatible HTTP server on loopback. Agents call it
// with the plain `openai` client; each call is served by a backend (the
// native policy, or an upstream) and recorded in the calling rollout.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { LightningStore } from "../store/lightning-store.js";
import type { LLMResource, ResourcesUpdate } from "../types/index.js";
import type { CompletionBackend, GenerateRequest, GenerateResult } from "./backend.js";
import type { z } from "zod";
import type { ChatTurn, ToolSpec } from "../tokenizer/tools.js";
import {
  ApiError,
  chatTurns,
  ChatRequestSchema,
  plainChatRequest,
  CompletionRequestSchema,
  ForwardedRequestSchema,
  nativeLimits,
  parseRequest,
  stops,
} from "./requests.js";
import { anthropicError, fromMessages, MessagesRequestSchema, messageBody, messageEvents } from "./anthropic.js";
import { completionBody, streamChunks } from "./openai-wire.js";
import { fromResponses, type ResponsesRequest, ResponsesRequestSchema, responseBody, responseEvents } from "./responses.js";
import { resultFromBody, StreamAccumulator } from "./upstream-backend.js";
import { llmCallSpan, parseTraceparent } from "./record.js";
import { ValidationError } from "../types/errors.js";
import { assertBindAllowed, bearerMatches } from "../server/auth.js";
import { clientSignal, localBody, localFetch } from "../server/local-fetch.js";
import { serveLocally } from "../tracer/local-routes.js";

export interface LlmProxyOptions {
  backend: CompletionBackend;
  /** Where calls are recorded; without one the proxy only serves. */
  store?: LightningStore;
  host?: string;
  port?: number;
  /**
   * Required when `host` is not loopback: every request must then carry it as
   * `authorization: Bearer <token>` (the OpenAI client's apiKey) or `x-api-key`
   * (Anthropic's client). Published resources carry it as the LLM's apiKey.
   */
  token?: string;
  /** Request bodies above this are refused with 413. */
  maxBodyBytes?: number;
  /** Used when a request leaves max_tokens out. */
  defaultMaxTokens?: number;
}

/** Clients that trace the call themselves (Arclight's openai instrumentation) send this, so each call is recorded once. */
export const TRACED_HEADER = "x-arclight-traced";
const ROLLOUT_PATH = /^\/rollout\/([^/]+)\/attempt\/([^/]+)(\/.*)$/;

export class LlmProxy {
  private server: Server | null = null;
  private stopLocal: (() => void) | null = null;
  private backend: CompletionBackend;
  private readonly opts: LlmProxyOptions;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Responses on the Messages API route, whose errors take Anthropic's shape. */
  private readonly anthropic = new WeakSet<ServerResponse>();

  constructor(opts: LlmProxyOptions) {
    if (!opts?.backend) throw new TypeError("LlmProxy: backend is required");
    assertBindAllowed(opts.host ?? "127.0.0.1", opts.token, "LlmProxy");
    this.backend = opts.backend;
    this.opts = opts;
  }

  /** `http://127.0.0.1:PORT/v1`, the base URL for clients that do not need attribution. */
  get url(): string {
    if (!this.server) throw new Error("LlmProxy: not started");
    const { port } = this.server.address() as AddressInfo;
    return `http://${this.opts.host ?? "127.0.0.1"}:${port}/v1`;
  }

  /** The base URL that attributes calls to one rollout attempt. */
  urlFor(rolloutId: string, attemptId: string): string {
    return this.url.replace(/\/v1$/, `/rollout/${encodeURIComponent(rolloutId)}/attempt/${encodeURIComponent(attemptId)}/v1`);
  }

  /** Serve from another backend (e.g. new weights) starting with the next request. */
  setBackend(backend: CompletionBackend): void {
    this.backend = backend;
  }

  resource(model = this.backend.models()[0] ?? "arclight"): LLMResource {
    const llm: LLMResource = { resourceType: "llm", endpoint: this.url, model, samplingParameters: {}, proxy: true };
    if (this.opts.token) llm.apiKey = this.opts.token;
    return llm;
  }

  /** Publishes the endpoint as resources `{ [name]: llm }` (a new version when resourcesId is given). */
  async publish(store: LightningStore, opts: { name?: string; resourcesId?: string } = {}): Promise<ResourcesUpdate> {
    const resources = { [opts.name ?? "llm"]: this.resource() };
    return opts.resourcesId ? store.updateResources(opts.resourcesId, resources) : store.addResources(resources);
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const serve = (req: IncomingMessage, res: ServerResponse) => {
      const p = this.handle(req, res).catch((e) => this.sendError(res, e));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    };
    const server = createServer(serve);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => resolve());
    });
    this.server = server;
    // Instrumented clients in this process reach the same handler without a socket (same checks, records, bytes).
    // (An IPv6 host makes no parsable URL here: such a proxy is reached over HTTP only.)
    if (URL.canParse(this.url)) this.stopLocal = serveLocally(new URL(this.url).origin, localFetch(serve));
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    this.stopLocal?.();
    await Promise.allSettled([...this.inflight]);
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.opts.token && !this.authorized(req)) {
      if ((req.url ?? "").split("?")[0].endsWith("/v1/messages")) this.anthropic.add(res);
      throw new ApiError(
        401,
        "missing or wrong token: send it as the API key (authorization: Bearer ... or x-api-key)",
        "authentication_error",
        null,
        "invalid_api_key",
      );
    }
    let path = (req.url ?? "/").split("?")[0];
    let ids: { rolloutId: string; attemptId: string } | null = null;
    const m = ROLLOUT_PATH.exec(path);
    if (m) {
      ids = { rolloutId: decodePathPart(m[1], "rollout id"), attemptId: decodePathPart(m[2], "attempt id") };
      path = m[3];
    } else {
      const rollout = req.headers["x-arclight-rollout-id"];
      const attempt = req.headers["x-arclight-attempt-id"];
      if (rollout !== undefined || attempt !== undefined) {
        if (typeof rollout !== "string" || typeof attempt !== "string" || !rollout || !attempt)
          throw new ApiError(
            400,
            "x-arclight-rollout-id and x-arclight-attempt-id must be sent together, once each",
            "invalid_request_error",
            null,
            "invalid_attribution",
          );
        ids = { rolloutId: rollout, attemptId: attempt };
      }
    }
    if (path === "/v1/models") {
      if (req.method !== "GET") throw new ApiError(405, `method ${req.method} not allowed on ${path}`, "invalid_request_error");
      return this.sendJson(res, 200, {
        object: "list",
        data: this.backend.models().map((id) => ({ id, object: "model", created: 0, owned_by: "arclight" })),
      });
    }
    const route = ROUTES[path];
    if (!route) throw new ApiError(404, `unknown route ${path}`, "invalid_request_error", null, "not_found");
    if (route === "messages") this.anthropic.add(res);
    if (req.method !== "POST") throw new ApiError(405, `method ${req.method} not allowed on ${path}`, "invalid_request_error");
    // Attribution first: a call for a rollout that does not exist must fail before any generation runs.
    if (ids && this.opts.store) await this.checkAttribution(ids);
    const body = await this.readJson(req);
    const backend = this.backend;
    const record =
      ids && this.opts.store && req.headers[TRACED_HEADER] !== "1"
        ? { store: this.opts.store, ids, parent: parseTraceparent(req.headers.traceparent) }
        : null;
    if ((route === "chat" || route === "text_completion") && backend.forward) {
      parseRequest(ForwardedRequestSchema, body);
      // the body as it came (key order and all), not zod's copy of it
      return this.forward(
        res,
        backend.forward.bind(backend),
        backend.models(),
        route,
        body as z.output<typeof ForwardedRequestSchema>,
        record,
      );
    }
    const { greq, stream, includeUsage, responses } = this.toGenerate(route, body);
    if (!backend.models().includes(greq.model))
      throw new ApiError(
        404,
        `The model '${greq.model}' does not exist; this proxy serves ${backend.models().join(", ")}`,
        "invalid_request_error",
        "model",
        "model_not_found",
      );
    const promptTokens = asClientError(() => backend.countPromptTokens(greq));
    if (promptTokens === 0)
      throw new ApiError(
        400,
        route === "text_completion" ? "prompt is empty" : "the messages render to an empty prompt",
        "invalid_request_error",
        route === "text_completion" ? "prompt" : "messages",
      );
    if (promptTokens > backend.maxPromptTokens)
      throw new ApiError(
        400,
        `prompt is ${promptTokens} tokens; this model's context allows ${backend.maxPromptTokens}`,
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
      );
    // The answer starts after the generation, and until then a client in process leaves only by aborting
    // its fetch: its own signal does (one AbortController and 'close' listener less per call).
    greq.signal = clientSignal(req) ?? this.abortOnClose(res);
    const started = Date.now();
    let result: GenerateResult | null = null;
    let error: Error | null = null;
    try {
      result = await backend.generate(greq);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    const kind = route === "text_completion" ? "text_completion" : "chat";
    if (record) await record.store.addSpan(llmCallSpan(record.ids, kind, greq, result, started, error, record.parent));
    if (error instanceof ValidationError) throw new ApiError(400, error.message, "invalid_request_error");
    if (error || !result) throw new ApiError(500, `generation failed: ${error?.message}`, "server_error");
    if (route === "messages") {
      if (!stream) return this.sendJson(res, 200, messageBody(result));
      return this.sendEvents(res, namedEvents(messageEvents(result)), "");
    }
    if (responses) {
      if (!stream) return this.sendJson(res, 200, responseBody(result, responses));
      return this.sendEvents(res, namedEvents(responseEvents(result, responses)), "");
    }
    if (!stream) return this.sendJson(res, 200, completionBody(kind, result));
    return this.sendEvents(
      res,
      streamChunks(kind, result, includeUsage).map((c) => `data: ${JSON.stringify(c)}\n\n`),
      "data: [DONE]\n\n",
    );
  }

  /** The request as the backend sees it; every field is checked here, and what the backend cannot honour is a 400. */
  private toGenerate(
    route: Route,
    body: unknown,
  ): { greq: GenerateRequest; stream: boolean; includeUsage: boolean; responses?: ResponsesRequest } {
    const defaultMax = this.opts.defaultMaxTokens ?? 256;
    if (route === "responses") {
      const r = parseRequest(ResponsesRequestSchema, body);
      const greq: GenerateRequest = {
        model: r.model,
        ...fromResponses(r),
        n: 1,
        temperature: r.temperature ?? 1,
        topP: r.top_p ?? 1,
        maxTokens: r.max_output_tokens ?? defaultMax,
        stop: [],
      };
      return { greq, stream: r.stream === true, includeUsage: false, responses: r };
    }
    if (route === "messages") {
      const r = parseRequest(MessagesRequestSchema, body);
      const conv = fromMessages(r);
      const greq: GenerateRequest = {
        model: r.model,
        ...conv,
        n: 1,
        temperature: r.temperature ?? 1,
        topP: r.top_p ?? 1,
        ...(r.top_k ? { topK: r.top_k } : {}),
        maxTokens: r.max_tokens,
        stop: r.stop_sequences ?? [],
        toolCallIdPrefix: "toolu_",
      };
      return { greq, stream: r.stream === true, includeUsage: false };
    }
    const r =
      route === "chat" ? (plainChatRequest(body) ?? parseRequest(ChatRequestSchema, body)) : parseRequest(CompletionRequestSchema, body);
    nativeLimits(r);
    const greq: GenerateRequest = {
      model: r.model,
      n: r.n,
      temperature: r.temperature,
      topP: r.top_p,
      maxTokens: r.max_completion_tokens ?? r.max_tokens ?? defaultMax,
      stop: stops(r.stop),
      ...(r.seed != null ? { seed: r.seed } : {}),
    };
    if ("messages" in r) {
      greq.messages = chatTurns(r);
      if (r.tools?.length) greq.tools = r.tools as ToolSpec[];
      if (r.tool_choice) greq.toolChoice = r.tool_choice;
      if (r.parallel_tool_calls !== undefined) greq.parallelToolCalls = r.parallel_tool_calls;
    } else greq.prompt = r.prompt;
    return { greq, stream: r.stream, includeUsage: r.stream_options?.include_usage === true };
  }

  private abortOnClose(res: ServerResponse): AbortSignal {
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort(new Error("client went away"));
    });
    return abort.signal;
  }

  /** Upstream backends: the body goes as it came, the answer comes back as it was (streamed through), and is recorded. */
  private async forward(
    res: ServerResponse,
    send: NonNullable<CompletionBackend["forward"]>,
    models: string[],
    kind: "chat" | "text_completion",
    body: z.output<typeof ForwardedRequestSchema>,
    record: {
      store: LightningStore;
      ids: { rolloutId: string; attemptId: string };
      parent: { traceId: string; spanId: string } | null;
    } | null,
  ): Promise<void> {
    if (!models.includes(body.model))
      throw new ApiError(
        404,
        `The model '${body.model}' does not exist; this proxy serves ${models.join(", ")}`,
        "invalid_request_error",
        "model",
        "model_not_found",
      );
    const started = Date.now();
    const up = await send(kind, body, this.abortOnClose(res)).catch((e: Error) => {
      throw new ApiError(502, `upstream unreachable: ${e.message}`, "upstream_error");
    });
    const chat = kind === "chat";
    const acc = new StreamAccumulator(chat, body.model);
    const chunks: Buffer[] = [];
    const streamed = up.contentType.includes("text/event-stream");
    res.writeHead(up.status < 500 ? up.status : 502, { "content-type": up.contentType });
    let error: Error | null = up.status >= 400 ? new Error(`upstream ${up.status}`) : null;
    try {
      for await (const c of up.body ?? []) {
        if (!res.destroyed) res.write(c);
        if (streamed) acc.push(c);
        else chunks.push(Buffer.from(c));
      }
    } catch (e) {
      error = e as Error;
    }
    res.end();
    if (!record) return;
    let result: GenerateResult | null = null;
    if (!error) {
      if (streamed) result = acc.result();
      else {
        try {
          result = resultFromBody(JSON.parse(Buffer.concat(chunks).toString("utf8")), chat, body.model);
        } catch (e) {
          error = new Error(`upstream answer is not JSON: ${(e as Error).message}`);
        }
      }
    }
    await record.store.addSpan(llmCallSpan(record.ids, kind, forwardedRequest(body), result, started, error, record.parent));
  }

  private async checkAttribution(ids: { rolloutId: string; attemptId: string }): Promise<void> {
    const store = this.opts.store!;
    // The usual caller is the rollout's running attempt, its latest: one read (and one copy) answers that.
    if ((await store.getLatestAttempt(ids.rolloutId))?.attemptId === ids.attemptId) return;
    if (!(await store.getRolloutById(ids.rolloutId)))
      throw new ApiError(
        404,
        `rollout ${JSON.stringify(ids.rolloutId)} does not exist`,
        "invalid_request_error",
        null,
        "rollout_not_found",
      );
    if (!(await store.queryAttempts(ids.rolloutId)).some((a) => a.attemptId === ids.attemptId))
      throw new ApiError(
        404,
        `attempt ${JSON.stringify(ids.attemptId)} of rollout ${JSON.stringify(ids.rolloutId)} does not exist`,
        "invalid_request_error",
        null,
        "attempt_not_found",
      );
  }

  private readJson(req: IncomingMessage): Promise<unknown> {
    const limit = this.opts.maxBodyBytes ?? 8 << 20;
    const local = localBody(req);
    if (local !== undefined)
      // A throw in the executor (413, 400) rejects, as the stream path does.
      return new Promise((resolve) => {
        if ((typeof local === "string" ? Buffer.byteLength(local) : local.byteLength) > limit) throw tooLarge(limit);
        resolve(parseBody(typeof local === "string" ? local : Buffer.from(local).toString("utf8")));
      });
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on("data", (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > limit) {
          // Answer now and discard the rest: destroying the request would reset the socket before the 413 is read.
          over = true;
          chunks.length = 0;
          reject(tooLarge(limit));
          return;
        }
        chunks.push(c);
      });
      req.on("error", reject);
      req.on("end", () => {
        if (over) return;
        try {
          resolve(parseBody(Buffer.concat(chunks).toString("utf8")));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return void res.end();
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.opts.token as string;
    const key = req.headers["x-api-key"];
    return bearerMatches(token, req.headers.authorization) || (typeof key === "string" && bearerMatches(token, `Bearer ${key}`));
  }

  private sendError(res: ServerResponse, e: unknown): void {
    const err =
      e instanceof ApiError
        ? e
        : e instanceof ValidationError
          ? new ApiError(400, e.message, "invalid_request_error")
          : new ApiError(500, `internal error: ${(e as Error)?.message ?? e}`, "server_error");
    if (res.destroyed) return;
    this.sendJson(res, err.status, this.anthropic.has(res) ? anthropicError(err) : err.body());
  }

  private sendEvents(res: ServerResponse, events: string[], done: string): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    // A client that went away mid-stream gets nothing more; the rest is dropped, not an error.
    for (const e of events) if (!res.destroyed) res.write(e);
    res.end(done);
  }
}

type Route = "chat" | "text_completion" | "messages" | "responses";
const ROUTES: Record<string, Route | undefined> = {
  "/v1/chat/completions": "chat",
  "/v1/completions": "text_completion",
  "/v1/messages": "messages",
  // Served by generate() on every backend, an upstream's too (converted to chat: see responses.ts).
  "/v1/responses": "responses",
};

/** Server-sent events with names (Anthropic's and the Responses API's streams), from [event, data] pairs. */
function namedEvents(events: [string, unknown][]): string[] {
  return events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** A forwarded body in the terms the span records (the request itself went upstream untouched). */
function forwardedRequest(b: Record<string, unknown>): GenerateRequest {
  const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);
  return {
    model: String(b.model),
    ...(Array.isArray(b.messages)
      ? { messages: b.messages as ChatTurn[] }
      : { prompt: typeof b.prompt === "string" ? b.prompt : JSON.stringify(b.prompt ?? "") }),
    ...(Array.isArray(b.tools) ? { tools: b.tools as ToolSpec[] } : {}),
    n: num(b.n, 1),
    temperature: num(b.temperature, 1),
    topP: num(b.top_p, 1),
    maxTokens: num(b.max_completion_tokens ?? b.max_tokens, 0),
    stop: typeof b.stop === "string" ? [b.stop] : Array.isArray(b.stop) ? b.stop.map(String) : [],
  };
}

function decodePathPart(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(
      400,
      `the ${what} in the path is not valid percent-encoding: ${JSON.stringify(s)}`,
      "invalid_request_error",
      null,
      "invalid_path",
    );
  }
}

/** Runs a tokenizer step: its ValidationError is the client's text (e.g. outside the vocabulary), a 400. */
function asClientError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValidationError) throw new ApiError(400, e.message, "invalid_request_error", "messages", "invalid_text");
    throw e;
  }
}

export async function startLlmProxy(opts: LlmProxyOptions): Promise<LlmProxy> {
  return new LlmProxy(opts).start();
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `request body exceeds ${limit} bytes`, "invalid_request_error", null, "request_too_large");
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `request body is not valid JSON: ${(e as Error).message}`, "invalid_request_error");
  }
}

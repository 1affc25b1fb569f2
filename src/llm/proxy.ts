// The LLM proxy: an OpenAI-compatible HTTP server on loopback. Agents call it
// with the plain `openai` client; each call is served by a backend (the
// native policy, or an upstream) and recorded in the calling rollout.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { LightningStore } from "../store/lightning-store.js";
import type { LLMResource, ResourcesUpdate } from "../types/index.js";
import type { CompletionBackend, GenerateRequest, GenerateResult } from "./backend.js";
import { ApiError, ChatRequestSchema, CompletionRequestSchema, parseRequest, stops } from "./requests.js";
import { llmCallSpan } from "./record.js";
import { ValidationError } from "../types/errors.js";

export interface LlmProxyOptions {
  backend: CompletionBackend;
  /** Where calls are recorded; without one the proxy only serves. */
  store?: LightningStore;
  host?: string;
  port?: number;
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
  private backend: CompletionBackend;
  private readonly opts: LlmProxyOptions;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(opts: LlmProxyOptions) {
    if (!opts?.backend) throw new TypeError("LlmProxy: backend is required");
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
    return { resourceType: "llm", endpoint: this.url, model, samplingParameters: {}, proxy: true };
  }

  /** Publishes the endpoint as resources `{ [name]: llm }` (a new version when resourcesId is given). */
  async publish(store: LightningStore, opts: { name?: string; resourcesId?: string } = {}): Promise<ResourcesUpdate> {
    const resources = { [opts.name ?? "llm"]: this.resource() };
    return opts.resourcesId ? store.updateResources(opts.resourcesId, resources) : store.addResources(resources);
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const server = createServer((req, res) => {
      const p = this.handle(req, res).catch((e) => this.sendError(res, e));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => resolve());
    });
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    await Promise.allSettled([...this.inflight]);
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
          throw new ApiError(400, "x-arclight-rollout-id and x-arclight-attempt-id must be sent together, once each", "invalid_request_error", null, "invalid_attribution");
        ids = { rolloutId: rollout, attemptId: attempt };
      }
    }
    if (path === "/v1/models") {
      if (req.method !== "GET") throw new ApiError(405, `method ${req.method} not allowed on ${path}`, "invalid_request_error");
      return this.sendJson(res, 200, { object: "list", data: this.backend.models().map((id) => ({ id, object: "model", created: 0, owned_by: "arclight" })) });
    }
    const kind = path === "/v1/chat/completions" ? "chat" : path === "/v1/completions" ? "text_completion" : null;
    if (!kind) throw new ApiError(404, `unknown route ${path}`, "invalid_request_error", null, "not_found");
    if (req.method !== "POST") throw new ApiError(405, `method ${req.method} not allowed on ${path}`, "invalid_request_error");
    // Attribution first: a call for a rollout that does not exist must fail before any generation runs.
    if (ids && this.opts.store) await this.checkAttribution(ids);
    const body = await this.readJson(req);
    const parsed = kind === "chat" ? parseRequest(ChatRequestSchema, body) : parseRequest(CompletionRequestSchema, body);
    if (!this.backend.models().includes(parsed.model))
      throw new ApiError(404, `The model '${parsed.model}' does not exist; this proxy serves ${this.backend.models().join(", ")}`, "invalid_request_error", "model", "model_not_found");
    const greq: GenerateRequest = {
      model: parsed.model,
      ...("messages" in parsed ? { messages: parsed.messages.map((m) => ({ role: m.role, content: m.content })) } : { prompt: parsed.prompt }),
      n: parsed.n,
      temperature: parsed.temperature,
      topP: parsed.top_p,
      maxTokens: parsed.max_completion_tokens ?? parsed.max_tokens ?? this.opts.defaultMaxTokens ?? 256,
      stop: stops(parsed.stop),
      ...(parsed.seed != null ? { seed: parsed.seed } : {}),
    };
    const promptTokens = asClientError(() => this.backend.countPromptTokens(greq));
    if (promptTokens === 0)
      throw new ApiError(400, kind === "chat" ? "the messages render to an empty prompt" : "prompt is empty", "invalid_request_error", kind === "chat" ? "messages" : "prompt");
    if (promptTokens > this.backend.maxPromptTokens)
      throw new ApiError(400, `prompt is ${promptTokens} tokens; this model's context allows ${this.backend.maxPromptTokens}`, "invalid_request_error", "messages", "context_length_exceeded");
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort(new Error("client went away"));
    });
    greq.signal = abort.signal;
    const started = Date.now();
    let result: GenerateResult | null = null;
    let error: Error | null = null;
    try {
      result = await this.backend.generate(greq);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    if (ids && this.opts.store && req.headers[TRACED_HEADER] !== "1") await this.opts.store.addSpan(llmCallSpan(ids, kind, greq, result, started, error));
    if (error instanceof ValidationError) throw new ApiError(400, error.message, "invalid_request_error");
    if (error || !result) throw new ApiError(500, `generation failed: ${error?.message}`, "server_error");
    const includeUsage = parsed.stream_options?.include_usage === true;
    if (parsed.stream) return this.sendStream(res, kind, result, includeUsage);
    return this.sendJson(res, 200, completionBody(kind, result));
  }

  private async checkAttribution(ids: { rolloutId: string; attemptId: string }): Promise<void> {
    const store = this.opts.store!;
    if (!(await store.getRolloutById(ids.rolloutId)))
      throw new ApiError(404, `rollout ${JSON.stringify(ids.rolloutId)} does not exist`, "invalid_request_error", null, "rollout_not_found");
    if (!(await store.queryAttempts(ids.rolloutId)).some((a) => a.attemptId === ids.attemptId))
      throw new ApiError(404, `attempt ${JSON.stringify(ids.attemptId)} of rollout ${JSON.stringify(ids.rolloutId)} does not exist`, "invalid_request_error", null, "attempt_not_found");
  }

  private readJson(req: IncomingMessage): Promise<unknown> {
    const limit = this.opts.maxBodyBytes ?? 8 << 20;
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
          reject(new ApiError(413, `request body exceeds ${limit} bytes`, "invalid_request_error", null, "request_too_large"));
          return;
        }
        chunks.push(c);
      });
      req.on("error", reject);
      req.on("end", () => {
        if (over) return;
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (e) {
          reject(new ApiError(400, `request body is not valid JSON: ${(e as Error).message}`, "invalid_request_error"));
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

  private sendError(res: ServerResponse, e: unknown): void {
    const err =
      e instanceof ApiError
        ? e
        : e instanceof ValidationError
          ? new ApiError(400, e.message, "invalid_request_error")
          : new ApiError(500, `internal error: ${(e as Error)?.message ?? e}`, "server_error");
    if (res.destroyed) return;
    this.sendJson(res, err.status, err.body());
  }

  private sendStream(res: ServerResponse, kind: "chat" | "text_completion", r: GenerateResult, includeUsage: boolean): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const id = `chatcmpl-${randomUUID()}`;
    const base = { id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: Math.floor(Date.now() / 1000), model: r.model };
    // A client that went away mid-stream gets nothing more; the rest is dropped, not an error.
    const send = (o: unknown) => void (res.destroyed || res.write(`data: ${JSON.stringify(o)}\n\n`));
    r.choices.forEach((c, index) => {
      // One chunk per generated token (its text, id and logprob), then the choice's finish chunk.
      const pieces = c.tokenTexts && c.tokenTexts.length === c.tokenIds.length ? c.tokenTexts : [c.text];
      pieces.forEach((piece, k) => {
        const ids = pieces.length === c.tokenIds.length ? [c.tokenIds[k]] : c.tokenIds;
        const lps = pieces.length === c.tokenIds.length ? c.logprobs.slice(k, k + 1) : c.logprobs;
        const delta = kind === "chat" ? { delta: k === 0 ? { role: "assistant", content: piece } : { content: piece } } : { text: piece };
        send({ ...base, ...(index === 0 && k === 0 ? { prompt_token_ids: r.promptTokenIds } : {}), choices: [{ index, ...delta, token_ids: ids, logprobs: logprobsBody(lps), finish_reason: null }] });
      });
      send({ ...base, choices: [{ index, ...(kind === "chat" ? { delta: {} } : { text: "" }), finish_reason: c.finishReason }] });
    });
    if (includeUsage) send({ ...base, choices: [], usage: usage(r) });
    res.end("data: [DONE]\n\n");
  }
}

function usage(r: GenerateResult) {
  const completion = r.choices.reduce((n, c) => n + c.tokenIds.length, 0);
  return { prompt_tokens: r.promptTokenIds.length, completion_tokens: completion, total_tokens: r.promptTokenIds.length + completion };
}

function logprobsBody(lps: number[]) {
  return { content: lps.map((logprob) => ({ token: "", logprob, bytes: null, top_logprobs: [] })) };
}

function completionBody(kind: "chat" | "text_completion", r: GenerateResult) {
  return {
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    prompt_token_ids: r.promptTokenIds,
    choices: r.choices.map((c, index) => ({
      index,
      ...(kind === "chat" ? { message: { role: "assistant", content: c.text } } : { text: c.text }),
      finish_reason: c.finishReason,
      token_ids: c.tokenIds,
      logprobs: logprobsBody(c.logprobs),
    })),
    usage: usage(r),
  };
}

function decodePathPart(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, `the ${what} in the path is not valid percent-encoding: ${JSON.stringify(s)}`, "invalid_request_error", null, "invalid_path");
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

// A Node HTTP request handler called as `fetch`, without a socket: the handler
// gets an IncomingMessage-shaped stream and a ServerResponse-shaped sink, and
// the caller gets a web Response holding exactly the bytes the handler wrote.
// The LLM proxy serves clients in its own process this way (see
// src/tracer/local-routes.ts): undici, the socket and Node's HTTP parser were
// ~2 ms of every in-process rollout (bench/RESULTS.md, issue 14).
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { inspect, type InspectOptionsStylized } from "node:util";

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;
export interface LocalRequestInit {
  method?: string;
  /** Headers, [name, value] pairs or a record, as fetch takes them. */
  headers?: unknown;
  body?: unknown;
  signal?: AbortSignal | null;
}
/** fetch answered in process; `undefined` for a body it does not take (a stream, a form), which then goes over HTTP. */
export type LocalFetch = (url: string, init?: LocalRequestInit) => Promise<Response> | undefined;

/** `fetch` answered by `handler` in this process, for requests whose body is text or bytes (or none). */
export function localFetch(handler: NodeHandler): LocalFetch {
  return (url, init = {}) => {
    const raw = init.body;
    if (raw != null && typeof raw !== "string" && !(raw instanceof Uint8Array)) return undefined;
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      // A text body stays text: a handler that takes it whole (localBody) skips the bytes both ways.
      const body = raw == null ? null : (raw as string | Uint8Array);
      const req = new LocalRequest(
        requestPath(url),
        (init.method ?? "GET").toUpperCase(),
        requestHeaders(url, init.headers, body),
        body,
        signal,
      );
      const res = new ResponseSink(url, resolve, reject);
      if (signal) {
        const onAbort = () => res.abortedByClient(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        res.once("close", () => signal.removeEventListener("abort", onAbort));
      }
      try {
        handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
      } catch (e) {
        res.fail(e);
      }
    });
  };
}

/**
 * The signal of the fetch that made an in-process request, if it had one. Until the answer starts,
 * aborting it is the only way such a client goes away, so a handler that does its work before
 * answering can hand it on instead of making a signal of its own from the response's 'close'.
 */
export function clientSignal(req: IncomingMessage): AbortSignal | undefined {
  return req instanceof LocalRequest ? req.clientSignal : undefined;
}

/** The path and query of an absolute URL, as Node's `req.url` holds them. */
function requestPath(url: string): string {
  const host = url.indexOf("//");
  const slash = url.indexOf("/", host < 0 ? 0 : host + 2);
  const hash = url.indexOf("#");
  if (slash < 0) return "/";
  return hash < 0 ? url.slice(slash) : url.slice(slash, hash);
}

function requestHeaders(url: string, init: unknown, body: string | Uint8Array | null): IncomingHttpHeaders {
  const out: Record<string, string> = {};
  // Node's parser lower-cases names and joins repeated ones with ", ", as Headers does.
  const add = (k: string, v: unknown) => {
    const name = k.toLowerCase();
    out[name] = out[name] === undefined ? String(v) : `${out[name]}, ${v}`;
  };
  if (init instanceof Headers) init.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(init)) for (const [k, v] of init as [string, unknown][]) add(k, v);
  else if (init && typeof init === "object") for (const [k, v] of Object.entries(init)) if (v !== undefined) add(k, v);
  if (out.host === undefined) {
    const host = url.indexOf("//");
    const end = url.indexOf("/", host + 2);
    out.host = url.slice(host + 2, end < 0 ? undefined : end);
  }
  if (body && out["content-length"] === undefined)
    out["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
  return out;
}

/** The request side: a readable stream of the body with the fields handlers read. */
class LocalRequest extends Readable {
  readonly httpVersion = "1.1";
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  constructor(
    readonly url: string,
    readonly method: string,
    readonly headers: IncomingHttpHeaders,
    private body: string | Uint8Array | null,
    readonly clientSignal: AbortSignal | undefined,
  ) {
    super();
  }
  private bodyTaken = false;
  override _read(): void {
    const b = this.takeBody();
    if (b?.length) this.push(typeof b === "string" ? Buffer.from(b, "utf8") : b);
    this.push(null);
  }
  /** The whole body, once: undefined once taken (by this or by the stream), "" when there was none. */
  takeBody(): string | Uint8Array | undefined {
    if (this.bodyTaken) return undefined;
    this.bodyTaken = true;
    const b = this.body ?? "";
    this.body = null;
    return b;
  }
}

/**
 * The whole body of an in-process request as the client gave it (text or bytes), for a handler
 * that would read it all anyway: no stream events, no copies. The stream then ends empty.
 * Undefined for any other request, or one whose stream was already read.
 */
export function localBody(req: IncomingMessage): string | Uint8Array | undefined {
  if (!(req instanceof LocalRequest)) return undefined;
  const b = req.takeBody();
  // The stream has nothing more to give; ending it lets 'end' listeners run as for a read body.
  if (b !== undefined) req.push(null);
  return b;
}

// Statuses whose responses have no body (the Response constructor refuses one).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The response side: what ServerResponse offers handlers (headers, writeHead, write, end, destroy,
 * 'finish' and 'close'). The caller's Response is made when the handler ends, holding the whole
 * body; a handler that writes and then waits (a streamed upstream) gets a streamed body instead.
 */
class ResponseSink extends EventEmitter {
  statusCode = 200;
  statusMessage = "";
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  private readonly headers = new Map<string, number | string | string[]>();
  private chunks: (string | Uint8Array)[] = [];
  private stream: ReadableStreamDefaultController<Uint8Array> | null = null;
  private settled = false;
  private streamSoon = false;

  constructor(
    private readonly url: string,
    private readonly resolve: (r: Response) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    super();
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.headers.set(name.toLowerCase(), Array.isArray(value) ? [...value] : (value as number | string));
    return this;
  }
  getHeader(name: string): number | string | string[] | undefined {
    return this.headers.get(name.toLowerCase());
  }
  getHeaders(): OutgoingHttpHeaders {
    return Object.fromEntries(this.headers);
  }
  getHeaderNames(): string[] {
    return [...this.headers.keys()];
  }
  hasHeader(name: string): boolean {
    return this.headers.has(name.toLowerCase());
  }
  removeHeader(name: string): void {
    this.headers.delete(name.toLowerCase());
  }

  writeHead(status: number, message?: string | OutgoingHttpHeaders, headers?: OutgoingHttpHeaders): this {
    if (this.headersSent) throw Object.assign(new Error("Cannot write headers after they are sent"), { code: "ERR_HTTP_HEADERS_SENT" });
    this.statusCode = status;
    if (typeof message === "string") this.statusMessage = message;
    else headers = message;
    for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) this.setHeader(k, v as string);
    this.headersSent = true;
    return this;
  }
  flushHeaders(): void {
    this.headersSent = true;
  }

  write(chunk: string | Uint8Array, encoding?: BufferEncoding | (() => void), cb?: () => void): boolean {
    if (typeof encoding === "function") cb = encoding;
    if (this.writableEnded || this.destroyed) return false;
    this.headersSent = true;
    this.push(chunk, typeof encoding === "string" ? encoding : undefined);
    // Whatever the handler writes in this turn of the event loop goes in one body; if it is still
    // writing after that, the caller gets the response now and the rest as it comes.
    if (!this.streamSoon && !this.settled) {
      this.streamSoon = true;
      setImmediate(() => this.startStream());
    }
    if (cb) process.nextTick(cb);
    return true;
  }

  end(chunk?: string | Uint8Array | (() => void), encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    if (typeof chunk === "function") cb = chunk;
    else if (typeof encoding === "function") cb = encoding;
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && typeof chunk !== "function") this.push(chunk, typeof encoding === "string" ? encoding : undefined);
    this.headersSent = true;
    this.writableEnded = true;
    this.writableFinished = true;
    if (this.stream) this.stream.close();
    else this.settle(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks.map((c) => toBytes(c))));
    this.chunks = [];
    process.nextTick(() => {
      this.emit("finish");
      this.emit("close");
      cb?.();
    });
    return this;
  }

  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    const e = error ?? new Error("the handler closed the response");
    if (this.stream) this.stream.error(e);
    else if (!this.settled) {
      this.settled = true;
      this.reject(new TypeError("fetch failed", { cause: e }));
    }
    process.nextTick(() => this.emit("close"));
    return this;
  }

  /** The client aborted: fetch rejects (or its body errors) with the signal's reason, and the handler sees the connection close. */
  abortedByClient(reason: unknown): void {
    if (this.writableFinished || this.destroyed) return;
    this.destroyed = true;
    if (this.stream) this.stream.error(reason);
    else if (!this.settled) {
      this.settled = true;
      this.reject(reason);
    }
    process.nextTick(() => this.emit("close"));
  }

  /** The handler threw before answering. */
  fail(e: unknown): void {
    if (!this.writableEnded) this.destroy(e instanceof Error ? e : new Error(String(e)));
  }

  private push(chunk: string | Uint8Array, encoding?: BufferEncoding): void {
    if (this.destroyed) return;
    // UTF-8 text stays text until someone needs bytes: a JSON answer written whole is parsed as it was written.
    const part =
      typeof chunk === "string" && (encoding === undefined || encoding === "utf8" || encoding === "utf-8")
        ? chunk
        : toBytes(chunk, encoding);
    if (!part.length) return;
    if (this.stream) this.stream.enqueue(toBytes(part));
    else this.chunks.push(part);
  }

  private startStream(): void {
    if (this.settled || this.destroyed) return;
    const pending = this.chunks;
    this.chunks = [];
    this.settle(
      new ReadableStream<Uint8Array>({
        start: (c) => {
          this.stream = c;
          for (const b of pending) c.enqueue(toBytes(b));
        },
        // The caller stopped reading: to the handler that is a client that went away.
        cancel: (reason) => {
          this.stream = null;
          this.abortedByClient(reason);
        },
      }),
    );
  }

  private settle(body: string | Uint8Array | ReadableStream<Uint8Array>): void {
    if (this.settled) return;
    this.settled = true;
    const headers: [string, string][] = [];
    for (const [k, v] of this.headers) {
      if (Array.isArray(v)) for (const x of v) headers.push([k, x]);
      else headers.push([k, String(v)]);
    }
    const status = this.statusCode;
    try {
      const init = { status, ...(this.statusMessage ? { statusText: this.statusMessage } : {}), headers };
      this.resolve(
        NULL_BODY.has(status) || body instanceof ReadableStream
          ? withUrl(new Response(NULL_BODY.has(status) ? null : body, init), this.url)
          : (new WholeResponse(body, init, this.url) as unknown as Response),
      );
    } catch (e) {
      this.reject(e);
    }
  }
}

const utf8 = new TextDecoder();

/** Bytes of a chunk a handler wrote (text in the encoding it named, UTF-8 by default). */
function toBytes(chunk: string | Uint8Array, encoding?: BufferEncoding): Uint8Array {
  return typeof chunk === "string" ? Buffer.from(chunk, encoding ?? "utf8") : chunk;
}

// What Response's constructor refuses (undici's checks), refused here too: the caller sees the same error.
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * A Response whose whole body is already here, as the handler wrote it (text or bytes). undici's
 * Response would wrap the bytes in a web stream up front, and reading them back through it cost
 * ~35 us a call (a third of the route's own cost); its constructor alone cost 4-9 us a call in the
 * running loop (bench/loop/overhead.ts). This one is a Response (its prototype is Response's) whose
 * members are all its own: a JSON answer written as text is parsed from that text, and the stream is
 * made only if `body` is asked for.
 */
class WholeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  #body: string | Uint8Array;
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;

  constructor(
    body: string | Uint8Array,
    init: { status: number; statusText?: string; headers: ConstructorParameters<typeof Headers>[0] },
    url: string,
  ) {
    if (!Number.isInteger(init.status) || init.status < 200 || init.status > 599)
      throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
    const statusText = init.statusText ?? "";
    if (!REASON_PHRASE.test(statusText)) throw new TypeError("Invalid statusText");
    this.status = init.status;
    this.statusText = statusText;
    this.headers = new Headers(init.headers);
    this.url = url;
    this.#body = body;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }
  get type(): "default" {
    return "default";
  }
  get redirected(): boolean {
    return false;
  }

  get body(): ReadableStream<Uint8Array> {
    if (!this.#stream) {
      const b = this.#body;
      // Pulled only when read (high-water mark 0), so reading it marks the body used, as fetch's does.
      this.#stream = new ReadableStream<Uint8Array>(
        {
          pull: (c) => {
            this.#used = true;
            if (b.length) c.enqueue(toBytes(b));
            c.close();
          },
          cancel: () => {
            this.#used = true;
          },
        },
        { highWaterMark: 0 },
      );
    }
    return this.#stream;
  }
  get bodyUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }

  /** The whole body, once; a body someone took as a stream is read from that stream. */
  async #take(): Promise<string | Uint8Array> {
    if (this.bodyUsed) throw new TypeError("Body is unusable: Body has already been read");
    if (this.#stream) return new Uint8Array(await new Response(this.#stream).arrayBuffer());
    this.#used = true;
    return this.#body;
  }
  async text(): Promise<string> {
    const b = await this.#take();
    return typeof b === "string" ? b : utf8.decode(b);
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = toBytes(await this.#take());
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }
  async blob(): Promise<Blob> {
    return new Blob([toBytes(await this.#take())], { type: this.headers.get("content-type") ?? "" });
  }
  async formData(): Promise<FormData> {
    return new Response(toBytes(await this.#take()), { headers: this.headers }).formData();
  }
  clone(): Response {
    if (this.bodyUsed) throw new TypeError("Response.clone: Body has already been consumed.");
    const init = { status: this.status, statusText: this.statusText, headers: this.headers };
    if (!this.#stream) {
      const b = this.#body;
      return new WholeResponse(typeof b === "string" ? b : b.slice(), init, this.url) as unknown as Response;
    }
    const [mine, theirs] = this.#stream.tee();
    this.#stream = mine;
    return withUrl(new Response(theirs, init), this.url);
  }
  [inspect.custom](_depth: number, options: InspectOptionsStylized): string {
    const shown = { status: this.status, statusText: this.statusText, headers: this.headers, url: this.url, bodyUsed: this.bodyUsed };
    return `Response ${inspect(shown, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`;
  }
}
// instanceof Response holds; none of Response's own accessors is reached (each is overridden above).
Object.setPrototypeOf(WholeResponse.prototype, Response.prototype);

/** fetch's responses carry the URL they answer; constructed ones cannot be given one. */
function withUrl(r: Response, url: string): Response {
  return Object.defineProperty(r, "url", { value: url, enumerable: false, configurable: true });
}

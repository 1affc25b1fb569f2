// The store server: one LightningStore behind HTTP, so runners in other
// processes or on other machines (and agents in any language, via OTLP) share
// it. The server is the directory's only writer; everything else is a client.
//
// Every operation is POST /v1/agl/<path> with its arguments by name (see
// store/remote-protocol.ts). Writes carry an idempotency key: a retry after a
// lost response gets the first answer instead of applying twice.

import { setMaxListeners } from "node:events";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { LightningStore } from "../store/lightning-store.js";
import {
  API_PREFIX,
  errorToWire,
  IDEMPOTENCY_HEADER,
  OPENAPI_PATH,
  OPERATIONS,
  RETRY_HEADER,
  type OperationName,
  type StoreInfo,
} from "../store/remote-protocol.js";
import { parseOrThrow } from "../types/validate.js";
import { assertBindAllowed, bearerMatches } from "./auth.js";
import { buildOpenApi } from "./openapi.js";
import { IdempotencyCache, type Outcome } from "./idempotency.js";
import { handlers, type CallInfo, type HandlerContext, type Redact } from "./handlers.js";
import { registerOtlp } from "./otlp-route.js";

export interface StoreServerOptions {
  store: LightningStore;
  /** Default 127.0.0.1. Any other address needs `token`. */
  host?: string;
  /** Default 4747; 0 picks a free port. */
  port?: number;
  /** Clients must send `authorization: Bearer <token>`. */
  token?: string;
  /** Applied to every span before it is stored (e.g. to drop prompts holding personal data). */
  redact?: Redact;
  /** Largest request body, after gzip decoding (default 32 MiB). */
  bodyLimitBytes?: number;
  /** Longest a non-waiting call may take before the client gets 503 (default 30 s). */
  handlerTimeoutMs?: number;
  /** Longest one long-poll (wait, dequeue) is held open; clients poll again (default 20 s). */
  maxWaitMs?: number;
  /** close() closes the store too (default false: the caller owns it). */
  closeStore?: boolean;
}

export interface StoreServer {
  /** http://host:port, without a trailing slash. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

const VERSION = "0.1.0";
const OPEN_PATHS = new Set(["/health", `${API_PREFIX}/health`]);

export async function startStoreServer(opts: StoreServerOptions): Promise<StoreServer> {
  const host = opts.host ?? "127.0.0.1";
  assertBindAllowed(host, opts.token, "store server");
  const app = buildStoreApp(opts);
  await app.listen({ host, port: opts.port ?? 4747 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : (opts.port ?? 4747);
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown === "0.0.0.0" || shown === "[::]" ? "127.0.0.1" : shown}:${port}`,
    host,
    port,
    app,
    close: () => app.close(),
  };
}

/** The fastify app without listening (tests use app.inject). */
export function buildStoreApp(opts: StoreServerOptions): FastifyInstance {
  const { store } = opts;
  const maxWaitMs = opts.maxWaitMs ?? 20_000;
  const handlerTimeoutMs = opts.handlerTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes ?? 32 * 1024 * 1024,
    // A client that trickles its request in is cut off instead of holding a socket forever.
    requestTimeout: 60_000,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const closing = new AbortController();
  // Every long-poll in flight listens on it.
  setMaxListeners(0, closing.signal);
  const ctx: HandlerContext = { store, redact: opts.redact, maxWaitMs, closing: closing.signal };
  const cache = new IdempotencyCache();

  app.addHook("onClose", async () => {
    closing.abort();
    if (opts.closeStore) await store.close();
  });
  // Let long-polls return before fastify waits for in-flight requests.
  app.addHook("preClose", async () => {
    closing.abort();
  });

  if (opts.token !== undefined) {
    const token = opts.token;
    app.addHook("onRequest", async (req, reply) => {
      if (OPEN_PATHS.has(req.url.split("?")[0])) return;
      if (!bearerMatches(token, req.headers.authorization)) {
        reply
          .code(401)
          .header("www-authenticate", 'Bearer realm="arclight"')
          .send({ error: { name: "Unauthorized", message: "missing or wrong bearer token (authorization: Bearer <token>)" } });
        return reply;
      }
    });
  }

  app.setErrorHandler((err, _req, reply) => {
    const w = errorToWire(err);
    reply.code(w.status).send(w.body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send({ error: { name: "NoSuchEndpoint", message: `no endpoint ${req.method} ${req.url.split("?")[0]}; see ${OPENAPI_PATH}` } });
  });

  const health = async () => ({ status: "ok" });
  app.get("/health", health);
  app.get(`${API_PREFIX}/health`, health);
  app.get(
    `${API_PREFIX}/info`,
    async (): Promise<StoreInfo> => ({
      kind: store.kind,
      readOnly: store.readOnly,
      defaults: store.defaults,
      maxWaitMs,
      version: VERSION,
      features: ["complete-spans", "heartbeat-latest"],
    }),
  );
  const openapi = buildOpenApi(VERSION);
  app.get(OPENAPI_PATH, async () => openapi);

  for (const name of Object.keys(OPERATIONS) as OperationName[]) {
    const op = OPERATIONS[name];
    const waits = name === "waitForRollouts" || name === "dequeueRollout" || name === "dequeueManyRollouts" || name === "claimRollout";
    const limitMs = waits ? maxWaitMs + handlerTimeoutMs : handlerTimeoutMs;
    app.post(`${API_PREFIX}${op.path}`, async (req, reply) => {
      const run = async (): Promise<Outcome> => {
        try {
          const body = parseOrThrow(op.body, req.body ?? {}, `${name} request`);
          const result = await (handlers[name] as (c: HandlerContext, b: unknown, r: CallInfo) => Promise<unknown>)(
            ctx,
            body,
            callInfo(req, reply),
          );
          return { status: 200, body: { result: result ?? null } };
        } catch (e) {
          return errorToWire(e);
        }
      };
      const key = op.write ? req.headers[IDEMPOTENCY_HEADER] : undefined;
      const work = typeof key === "string" && key.length > 0 && key.length <= 200 ? cache.run(`${name}:${key}`, run) : run();
      const out = await withTimeout(work, limitMs, name);
      reply.code(out.status).send(out.body);
    });
  }

  registerOtlp(app, ctx);
  return app;
}

/**
 * The per-request time limit. (Not fastify's handlerTimeout: it is cleared by
 * the request stream's close, which node emits as soon as a body is read.)
 * The call itself runs on; a retry with the same idempotency key gets its result.
 */
function withTimeout(work: Promise<Outcome>, ms: number, name: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          status: 503,
          body: {
            error: {
              name: "Timeout",
              message: `${name} did not finish within ${ms} ms; it may still complete (retry with the same idempotency-key)`,
            },
          },
        }),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function callInfo(req: FastifyRequest, reply: FastifyReply): CallInfo {
  const r = req.headers[RETRY_HEADER];
  // Not req.signal: node closes the request stream once its body is read, which fastify takes for a disconnect.
  const gone = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  return { retried: typeof r === "string" && r !== "0", signal: gone.signal };
}

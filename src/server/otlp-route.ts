// POST /v1/traces: OTLP/HTTP as the OpenTelemetry specification defines it
// (binary protobuf or JSON, gzip or not), so any language's exporter can send
// an agent's spans to the store. Attribution failures come back as
// partial_success with the reason; the exporter's own retry covers 503s.

import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { NotFoundError, ValidationError } from "../types/index.js";
import { addSpans, type HandlerContext } from "./handlers.js";
import { otlpToSpans, type AttemptRef } from "./otlp-ingest.js";
import { decodeOtlpTraces } from "./otlp-decode.js";
import { ExportTraceServiceResponse, RpcStatus } from "./otlp-proto.js";

export const OTLP_TRACES_PATH = "/v1/traces";
/** Give an exporter this URL (base + path) and its spans belong to that attempt without any attributes. */
export const attemptTracesPath = (rolloutId: string, attemptId: string) =>
  `/v1/agl/rollouts/${encodeURIComponent(rolloutId)}/attempts/${encodeURIComponent(attemptId)}/v1/traces`;

const PROTOBUF_TYPES = ["application/x-protobuf", "application/protobuf"];
/** A protobuf body, decoded by the handler once it knows the attempt a per-attempt URL names. */
class ProtobufBody {
  constructor(readonly bytes: Buffer) {}
}

const isProtobuf = (req: FastifyRequest) =>
  PROTOBUF_TYPES.includes(
    String(req.headers["content-type"] ?? "")
      .split(";")[0]
      .trim()
      .toLowerCase(),
  );

export function registerOtlp(app: FastifyInstance, ctx: HandlerContext): void {
  void app.register(async (otlp) => {
    otlp.addContentTypeParser(PROTOBUF_TYPES, { parseAs: "buffer" }, (_req, body, done) => done(null, new ProtobufBody(body as Buffer)));

    otlp.addHook("preParsing", async (req, _reply, payload) => {
      const enc = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
      if (enc === "identity") return payload;
      if (enc !== "gzip")
        throw Object.assign(new Error(`content-encoding ${enc} is not supported (use gzip or none)`), { statusCode: 415 });
      // The body limit then counts decoded bytes, so a small gzip bomb is refused like a large body.
      let encoded = 0;
      const gunzip = createGunzip() as ReturnType<typeof createGunzip> & { receivedEncodedLength?: number };
      payload.on("data", (chunk: Buffer) => {
        encoded += chunk.length;
        gunzip.receivedEncodedLength = encoded;
      });
      payload.on("error", (e) => gunzip.destroy(e));
      gunzip.on("error", (e) => Object.assign(e, { statusCode: 400, message: `bad gzip body: ${e.message}` }));
      return (payload as Readable).pipe(gunzip);
    });

    otlp.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      const status = typeof err.statusCode === "number" && err.statusCode >= 400 ? err.statusCode : 500;
      // google.rpc.Status, as OTLP/HTTP asks for failed requests; code 3 = INVALID_ARGUMENT, 13 = INTERNAL.
      sendOtlp(req, reply.code(status), RpcStatus, { code: status < 500 ? 3 : 13, message: err.message });
    });

    const handle = async (req: FastifyRequest, reply: FastifyReply, target: AttemptRef | null) => {
      // A malformed protobuf body throws OtlpDecodeError (statusCode 400) before anything is stored.
      const batch = req.body instanceof ProtobufBody ? decodeOtlpTraces(req.body.bytes, target) : otlpToSpans(req.body, target);
      let rejected = batch.rejected;
      const errors = [...batch.errors];
      for (const { ref, spans } of batch.groups.values()) {
        try {
          await addSpans(ctx, spans, { retried: false }, "otlp");
        } catch (e) {
          // Client mistakes are reported per attempt; anything else (store closing) fails the request so the exporter retries.
          if (!(e instanceof NotFoundError || e instanceof ValidationError)) throw e;
          rejected += spans.length;
          const why = e instanceof NotFoundError ? `unknown ${e.kind} ${e.id}` : e.message;
          errors.push(`${spans.length} span(s) for rollout ${ref.rolloutId} attempt ${ref.attemptId} rejected: ${why}`);
        }
      }
      const body = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage: errors.join("; ") } } : {};
      sendOtlp(req, reply.code(200), ExportTraceServiceResponse, body);
    };

    otlp.post(OTLP_TRACES_PATH, (req, reply) => handle(req, reply, null));
    otlp.post<{ Params: { rolloutId: string; attemptId: string } }>(
      "/v1/agl/rollouts/:rolloutId/attempts/:attemptId/v1/traces",
      (req, reply) => handle(req, reply, { rolloutId: req.params.rolloutId, attemptId: req.params.attemptId }),
    );
  });
}

/** Answers in the encoding the client used. */
function sendOtlp(req: FastifyRequest, reply: FastifyReply, type: typeof RpcStatus, body: Record<string, unknown>): void {
  if (isProtobuf(req)) {
    reply.header("content-type", "application/x-protobuf").send(Buffer.from(type.encode(type.fromObject(body)).finish()));
  } else {
    reply.header("content-type", "application/json").send(body);
  }
}

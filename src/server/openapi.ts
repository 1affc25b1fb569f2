// The OpenAPI 3.1 document served at /v1/agl/openapi.json, generated from the
// same zod schemas that check requests, so it cannot drift from the server.

import { z } from "zod";
import { API_PREFIX, OPERATIONS, StoreInfoSchema, WireErrorSchema, type OperationName } from "../store/remote-protocol.js";
import { AttemptUpdateSchema, EnqueueRolloutSchema, RolloutUpdateSchema } from "../types/rollout.js";
import { SpanQuerySchema, SpanSchema } from "../types/span.js";

const json = (schema: z.ZodType, io: "input" | "output" = "input") => z.toJSONSchema(schema, { io, unrepresentable: "any" });

export function buildOpenApi(version: string): Record<string, unknown> {
  const errorRef = { $ref: "#/components/schemas/Error" };
  const errors = {
    "400": {
      description: "Malformed request or invalid arguments (ValidationError)",
      content: { "application/json": { schema: errorRef } },
    },
    "401": { description: "Missing or wrong bearer token", content: { "application/json": { schema: errorRef } } },
    "404": { description: "No such rollout, attempt or resources (NotFoundError)", content: { "application/json": { schema: errorRef } } },
    "409": { description: "Invalid status transition or read-only store", content: { "application/json": { schema: errorRef } } },
    "413": { description: "Body over the size limit", content: { "application/json": { schema: errorRef } } },
    "503": {
      description: "Server closing or call timed out; safe to retry with the same idempotency-key",
      content: { "application/json": { schema: errorRef } },
    },
  };
  const paths: Record<string, unknown> = {};
  for (const name of Object.keys(OPERATIONS) as OperationName[]) {
    const op = OPERATIONS[name];
    paths[`${API_PREFIX}${op.path}`] = {
      post: {
        operationId: name,
        summary: op.doc,
        parameters: op.write
          ? [
              {
                name: "idempotency-key",
                in: "header",
                required: false,
                schema: { type: "string", maxLength: 200 },
                description: "Retries with the same key return the first result",
              },
            ]
          : [],
        requestBody: { required: true, content: { "application/json": { schema: json(op.body) } } },
        responses: {
          "200": {
            description: "The call's return value",
            content: { "application/json": { schema: { type: "object", properties: { result: {} }, required: ["result"] } } },
          },
          ...errors,
        },
      },
    };
  }
  const get = (summary: string, schema: unknown) => ({
    get: { summary, responses: { "200": { description: summary, content: { "application/json": { schema } } } } },
  });
  paths["/health"] = get("Liveness (no token needed)", { type: "object", properties: { status: { const: "ok" } } });
  paths[`${API_PREFIX}/health`] = paths["/health"];
  paths[`${API_PREFIX}/info`] = get("Kind, defaults and limits of the store behind the server", json(StoreInfoSchema, "output"));
  paths["/v1/traces"] = {
    post: {
      summary:
        "OTLP/HTTP trace export (protobuf or JSON, optionally gzip). Spans are attributed by the resource attributes agentlightning.rollout_id / agentlightning.attempt_id, or by the URL /v1/agl/rollouts/{rolloutId}/attempts/{attemptId}/v1/traces.",
      requestBody: { required: true, content: { "application/x-protobuf": {}, "application/json": {} } },
      responses: {
        "200": { description: "ExportTraceServiceResponse; rejected spans are counted in partialSuccess with the reason" },
        ...errors,
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: { title: "Arclight store server", version, description: "Every LightningStore operation over HTTP, plus OTLP trace ingest." },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: json(WireErrorSchema, "output"),
        Span: json(SpanSchema),
        EnqueueRolloutRequest: json(EnqueueRolloutSchema),
        RolloutUpdate: json(RolloutUpdateSchema),
        AttemptUpdate: json(AttemptUpdateSchema),
        SpanQuery: json(SpanQuerySchema),
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}

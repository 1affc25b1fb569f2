// The OTLP/HTTP protobuf body the server benches send: one resource naming the attempt,
// `batch` chat spans shaped like bench/server/run.ts's JSON ones, span ids from `first` on.
import { ExportTraceServiceRequest } from "../../src/server/otlp-proto.js";

const kv = (key: string, value: object) => ({ key, value });

export function otlpBody(rolloutId: string, attemptId: string, first: number, batch: number): Buffer {
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [
          {
            resource: {
              attributes: [
                kv("agentlightning.rollout_id", { stringValue: rolloutId }),
                kv("agentlightning.attempt_id", { stringValue: attemptId }),
                kv("service.name", { stringValue: "bench" }),
              ],
            },
            scopeSpans: [
              {
                spans: Array.from({ length: batch }, (_, i) => ({
                  traceId: Buffer.alloc(16, 0xab),
                  spanId: Buffer.from((first + i).toString(16).padStart(16, "0"), "hex"),
                  name: "chat gpt-x",
                  kind: 3,
                  startTimeUnixNano: String(BigInt(1_700_000_000_000 + i) * 1_000_000n),
                  endTimeUnixNano: String(BigInt(1_700_000_000_050 + i) * 1_000_000n),
                  attributes: [
                    kv("gen_ai.operation.name", { stringValue: "chat" }),
                    kv("gen_ai.request.model", { stringValue: "gpt-x" }),
                    kv("gen_ai.usage.input_tokens", { intValue: 120 }),
                    kv("gen_ai.usage.output_tokens", { intValue: 40 }),
                    kv("gen_ai.request.temperature", { doubleValue: 0.7 }),
                    kv("step", { intValue: i }),
                  ],
                  status: { code: 1 },
                })),
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
}

// The OTLP protobuf decoder alone (src/server/otlp-decode.ts), against protobufjs
// decoding the same body into message objects and otlpToSpans attributing them
// (the reference the tests hold the decoder to), in the same process: CPU per span,
// best of 5 rounds, 1000-span bodies shaped like bench/server/run.ts's.
// Run: npx tsx bench/server/otlp-decode.ts [bodies per round]
import { ExportTraceServiceRequest } from "../../src/server/otlp-proto.js";
import { decodeOtlpTraces } from "../../src/server/otlp-decode.js";
import { otlpToSpans } from "../../src/server/otlp-ingest.js";

const ROUNDS = Number(process.argv[2] ?? 300);
const BATCH = 1000;
const kv = (key: string, value: object) => ({ key, value });
const body = Buffer.from(
  ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          resource: {
            attributes: [
              kv("agentlightning.rollout_id", { stringValue: "ro-1" }),
              kv("agentlightning.attempt_id", { stringValue: "at-1" }),
            ],
          },
          scopeSpans: [
            {
              spans: Array.from({ length: BATCH }, (_, i) => ({
                traceId: Buffer.alloc(16, 0xab),
                spanId: Buffer.from(i.toString(16).padStart(16, "0"), "hex"),
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

const parts: Record<string, () => unknown> = {
  "hand-written": () => decodeOtlpTraces(body, null),
  protobufjs: () =>
    otlpToSpans(ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, oneofs: true }), null),
};
const best: Record<string, number> = {};
for (const f of Object.values(parts)) for (let i = 0; i < 30; i++) f();
for (let round = 0; round < 5; round++)
  for (const [k, f] of Object.entries(parts)) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS / 5; i++) f();
    const c = process.cpuUsage(c0);
    best[k] = Math.min(best[k] ?? Infinity, (c.user + c.system) / ((ROUNDS / 5) * BATCH));
  }
console.log(`OTLP protobuf decode + attribution, ${BATCH}-span bodies, best of 5 rounds (CPU us per span)`);
for (const [k, us] of Object.entries(best))
  console.log(`${k.padEnd(13)} ${us.toFixed(2).padStart(6)}  ${(us / best["hand-written"]).toFixed(2)}x`);

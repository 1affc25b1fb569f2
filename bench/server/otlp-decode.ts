// The OTLP protobuf decoder alone (src/server/otlp-decode.ts), against protobufjs
// decoding the same body into message objects and otlpToSpans attributing them
// (the reference the tests hold the decoder to), in the same process: CPU per span,
// best of 5 rounds, 1000-span bodies shaped like bench/server/run.ts's.
// Run: npx tsx bench/server/otlp-decode.ts [bodies per round]
import { ExportTraceServiceRequest } from "../../src/server/otlp-proto.js";
import { otlpBody } from "./otlp-body.js";
import { decodeOtlpTraces } from "../../src/server/otlp-decode.js";
import { otlpToSpans } from "../../src/server/otlp-ingest.js";

const ROUNDS = Number(process.argv[2] ?? 300);
const BATCH = 1000;
const body = otlpBody("ro-1", "at-1", 0, BATCH);

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

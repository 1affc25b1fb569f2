// A call to Arclight's LLM proxy made inside a rollout carries the W3C
// `traceparent` of the span that made it (the AI SDK's provider call, a
// framework step), so the proxy's record of the call nests under that span in
// the rollout's trace instead of starting a tree of its own, and a framework
// call span above it is marked as the view of that record (semconv's
// CALL_RECORD), so frames, summaries and the adapter count the call once. Node's fetch (undici)
// announces each request on a diagnostics channel, where the header is added:
// no fetch is wrapped. Only requests to the active attempt's own proxy URL get
// it, so nothing goes to other hosts.
import dc from "node:diagnostics_channel";
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { CALL_RECORD, isLlmCall } from "../types/index.js";
import { findModelStep, frameworkParent, proxyParentOf } from "./framework-calls.js";
import { activeScope } from "./scope.js";

interface UndiciRequest {
  path?: unknown;
  headers?: unknown;
  addHeader?: (name: string, value: string) => unknown;
}

function hasHeader(headers: unknown, name: string): boolean {
  if (typeof headers === "string")
    return headers
      .toLowerCase()
      .split("\r\n")
      .some((l) => l.startsWith(`${name}:`));
  if (Array.isArray(headers)) return headers.some((h, i) => i % 2 === 0 && String(h).toLowerCase() === name);
  return false;
}

function onRequest(message: unknown): void {
  const request = (message as { request?: UndiciRequest } | null)?.request;
  if (!request || typeof request.addHeader !== "function" || typeof request.path !== "string") return;
  const scope = activeScope();
  if (!scope) return;
  const own = `/rollout/${encodeURIComponent(scope.rolloutId)}/attempt/${encodeURIComponent(scope.attemptId)}/`;
  if (!request.path.includes(own) || hasHeader(request.headers, "traceparent")) return;
  const traced = hasHeader(request.headers, "x-arclight-traced");
  // Inside a framework's model step (LangChain, Agents SDK) through a client Arclight does not instrument,
  // the step's span is the caller; with the instrumented openai client the client records the call itself.
  const step = traced ? undefined : findModelStep(context.active());
  const span = step ? proxyParentOf(step) : trace.getSpan(frameworkParent(context.active()));
  const sc = span?.spanContext();
  if (!span || !sc || !isSpanContextValid(sc)) return;
  request.addHeader("traceparent", `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`);
  // The proxy records this call below the span (unless the client records it itself: TRACED_HEADER). A span
  // that is a model call itself (the AI SDK's provider call) then says so, and counts as the call no more.
  const sdk = span as { name?: unknown; attributes?: Record<string, unknown>; isRecording(): boolean };
  if (!step && !traced && sdk.isRecording() && typeof sdk.name === "string" && isLlmCall(sdk.name, sdk.attributes))
    span.setAttribute(CALL_RECORD, "child");
}

let installed = false;

/** Adds `traceparent` to fetch calls a rollout makes to its proxy URL. Idempotent. */
export function propagateToProxy(): void {
  if (installed) return;
  installed = true;
  dc.subscribe("undici:request:create", onRequest);
}

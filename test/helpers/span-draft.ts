// One span input for tests that need many: the fields a test varies are
// arguments, the rest are the plain OK-status defaults every store accepts.
import type { Attributes, Span } from "../../src/types/index.js";

export interface SpanDraftFields {
  rolloutId: string;
  attemptId: string;
  /** Hex span id; the trace id is derived from it. */
  spanId: string;
  name: string;
  attributes: Attributes;
  startTime: number;
  endTime: number;
}

export function spanDraft(f: SpanDraftFields): Omit<Span, "sequenceId"> {
  return {
    rolloutId: f.rolloutId,
    attemptId: f.attemptId,
    traceId: f.spanId.padStart(32, "0"),
    spanId: f.spanId,
    parentId: null,
    name: f.name,
    status: { statusCode: "OK" },
    attributes: f.attributes,
    events: [],
    links: [],
    startTime: f.startTime,
    endTime: f.endTime,
    resource: { attributes: {}, schemaUrl: "" },
  };
}

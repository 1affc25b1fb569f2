// Algorithm metrics as spans in a rollout of their own, so frames and charts
// read training curves from the same store as the agents' traces.
import { randomBytes } from "node:crypto";
import type { LightningStore } from "../store/lightning-store.js";
import type { Attributes, Span } from "../types/index.js";

export const METRICS_SPAN = "arclight.metrics";
export const METRIC_PREFIX = "arclight.metric.";

export class MetricsLog {
  readonly traceId = randomBytes(16).toString("hex");
  private constructor(
    private readonly store: LightningStore,
    readonly rolloutId: string,
    readonly attemptId: string,
  ) {}

  static async open(store: LightningStore, algorithm: string, config: Record<string, unknown>): Promise<MetricsLog> {
    const ar = await store.startRollout({ input: { algorithm, config }, metadata: { kind: "algorithm", algorithm } });
    await store.updateAttempt(ar.rolloutId, ar.attempt.attemptId, { status: "running" });
    return new MetricsLog(store, ar.rolloutId, ar.attempt.attemptId);
  }

  /** One row of metrics: `{ step, phase, ...numbers }` as `arclight.metric.<name>` attributes. */
  async write(phase: string, step: number, values: Record<string, number | null | undefined>): Promise<void> {
    const attributes: Attributes = { [`${METRIC_PREFIX}phase`]: phase, [`${METRIC_PREFIX}step`]: step, "agentlightning.metric.step": step };
    for (const [k, v] of Object.entries(values)) if (typeof v === "number" && Number.isFinite(v)) attributes[METRIC_PREFIX + k] = v;
    await this.store.addSpan(pointSpan(this, METRICS_SPAN, attributes));
  }

  async close(error: unknown = null): Promise<void> {
    await this.store.updateAttempt(this.rolloutId, this.attemptId, { status: error ? "failed" : "succeeded", endTime: Date.now() });
  }
}

/** A zero-length OK span of an algorithm's own rollout: how metrics rows and algorithm log rows are stored. */
export function pointSpan(
  at: { rolloutId: string; attemptId: string; traceId: string },
  name: string,
  attributes: Attributes,
): Omit<Span, "sequenceId"> {
  const now = Date.now();
  return {
    rolloutId: at.rolloutId,
    attemptId: at.attemptId,
    traceId: at.traceId,
    spanId: randomBytes(8).toString("hex"),
    parentId: null,
    name,
    status: { statusCode: "OK" },
    attributes,
    events: [],
    links: [],
    startTime: now,
    endTime: now,
    resource: { attributes: {}, schemaUrl: "" },
  };
}

import { z } from "zod";

/** OpenTelemetry attribute values: primitives and homogeneous arrays of them. */
export const AttributeValueSchema = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.array(z.string()),
  z.array(z.number()),
  z.array(z.boolean()),
  z.null(),
]);
export type AttributeValue = z.infer<typeof AttributeValueSchema>;
export const AttributesSchema = z.record(z.string(), AttributeValueSchema);
export type Attributes = z.infer<typeof AttributesSchema>;

export const SpanStatusSchema = z.object({
  statusCode: z.enum(["UNSET", "OK", "ERROR"]),
  description: z.string().nullable().optional(),
});

export const SpanEventSchema = z.object({
  name: z.string(),
  /** Epoch milliseconds. */
  timestamp: z.number(),
  attributes: AttributesSchema.default({}),
});

export const SpanLinkSchema = z.object({
  traceId: z.string(),
  spanId: z.string(),
  attributes: AttributesSchema.default({}),
});

export const SpanResourceSchema = z.object({
  attributes: AttributesSchema.default({}),
  schemaUrl: z.string().default(""),
});

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`), `expected ${n} lowercase hex digits`);

/**
 * A finished span, OpenTelemetry-shaped, tagged with the rollout and attempt
 * it belongs to. `sequenceId` is monotonic per attempt and orders spans even
 * when clocks tie.
 */
export const SpanSchema = z.object({
  rolloutId: z.string().min(1),
  attemptId: z.string().min(1),
  sequenceId: z.number().int().min(0),
  traceId: hex(32),
  spanId: hex(16),
  parentId: hex(16).nullable(),
  name: z.string(),
  status: SpanStatusSchema,
  attributes: AttributesSchema,
  events: z.array(SpanEventSchema),
  links: z.array(SpanLinkSchema),
  /** Epoch milliseconds (fractional allowed). */
  startTime: z.number(),
  endTime: z.number(),
  resource: SpanResourceSchema,
});
export type Span = z.infer<typeof SpanSchema>;
export type SpanInput = z.input<typeof SpanSchema>;

export const SpanQuerySchema = z
  .object({
    rolloutId: z.string().optional(),
    attemptId: z.union([z.string(), z.literal("latest")]).optional(),
    name: z.string().optional(),
    /** Prefix match on the span name, e.g. "agentlightning." */
    namePrefix: z.string().optional(),
    minSequenceId: z.number().int().optional(),
    limit: z.number().int().positive().optional(),
  })
  .strict();
export type SpanQuery = z.input<typeof SpanQuerySchema>;

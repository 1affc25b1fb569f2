import { z } from "zod";
import { ValidationError } from "./errors.js";

/** Parses `value` with `schema` or throws a ValidationError naming the call site and each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(value)"}: ${i.message}`);
  throw new ValidationError(where, issues);
}

/** True when `s` is Unicode text, without a lone UTF-16 surrogate: only such text survives UTF-8 files, DuckDB and other engines exactly. */
export function isWellFormedText(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Each id schema's length limit, for parseId's plain check. */
const idMaxLength = new WeakMap<z.ZodType, number>();

/** A caller-chosen id (rollout, attempt, resources, worker): non-empty text the store can keep exactly. */
export function idSchema(what: string, maxLength = 1024) {
  const schema = z
    .string({ error: `expected ${what} as a string` })
    .min(1, `${what} must not be empty`)
    .max(maxLength, `${what} must be at most ${maxLength} characters`)
    .refine(isWellFormedText, `${what} holds a lone UTF-16 surrogate (not Unicode text; String.prototype.toWellFormed() repairs it)`);
  idMaxLength.set(schema, maxLength);
  return schema;
}

/**
 * parseOrThrow for an idSchema: the same rule checked in plain code first, zod only to word
 * the error. Every store call checks its ids, and zod's generic path cost a few us each in a
 * running loop (bench/loop/overhead.ts).
 */
export function parseId(schema: ReturnType<typeof idSchema>, value: unknown, where: string): string {
  return isValidId(schema, value) ? value : parseOrThrow(schema, value, where);
}

/** Whether `value` passes an idSchema, in plain code. */
export function isValidId(schema: ReturnType<typeof idSchema>, value: unknown): value is string {
  const max = idMaxLength.get(schema);
  return max !== undefined && typeof value === "string" && value.length > 0 && value.length <= max && isWellFormedText(value);
}

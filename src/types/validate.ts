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

/** A caller-chosen id (rollout, attempt, resources, worker): non-empty text the store can keep exactly. */
export const idSchema = (what: string, maxLength = 1024) =>
  z
    .string({ error: `expected ${what} as a string` })
    .min(1, `${what} must not be empty`)
    .max(maxLength, `${what} must be at most ${maxLength} characters`)
    .refine(isWellFormedText, `${what} holds a lone UTF-16 surrogate (not Unicode text; String.prototype.toWellFormed() repairs it)`);

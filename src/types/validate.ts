import { z } from "zod";
import { ValidationError } from "./errors.js";

/** Parses `value` with `schema` or throws a ValidationError naming the call site and each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(value)"}: ${i.message}`);
  throw new ValidationError(where, issues);
}

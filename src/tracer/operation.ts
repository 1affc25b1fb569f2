// agl.operation: wraps a function so each call is a span recording its
// inputs and output (or exception), sync or async alike.
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { AGL } from "../types/index.js";
import { arclightTracer } from "./provider.js";
import { toAttributeValue } from "./attributes.js";
import { toJsonText } from "../types/json.js";

// Inputs and outputs keep primitives as they are and store anything else as JSON text,
// so a reader parses one shape whatever the function took.
const asAttribute = (v: unknown) => (v === null || typeof v === "object" ? toJsonText(v) : toAttributeValue(v));

type AnyFn = (...args: never[]) => unknown;

export function operation<F extends AnyFn>(fn: F): F;
export function operation<F extends AnyFn>(name: string, fn: F): F;
export function operation<F extends AnyFn>(a: string | F, b?: F): F {
  const fn = (typeof a === "function" ? a : b) as F | undefined;
  if (typeof fn !== "function") throw new TypeError("operation(name?, fn): fn must be a function");
  const name = typeof a === "string" ? a : fn.name || "anonymous";
  const wrapped = function (this: unknown, ...args: Parameters<F>) {
    const span = arclightTracer().startSpan(AGL.spans.operation, {
      attributes: { [AGL.attrs.operationName]: name, [AGL.attrs.operationInput]: asAttribute(args.length === 1 ? args[0] : args) },
    });
    const fail = (e: unknown) => {
      span.recordException(e instanceof Error ? e : new Error(String(e)));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
      span.end();
    };
    const succeed = (out: unknown) => {
      span.setAttribute(AGL.attrs.operationOutput, out === undefined ? "undefined" : asAttribute(out));
      span.end();
      return out;
    };
    let out: unknown;
    try {
      out = context.with(trace.setSpan(context.active(), span), () => fn.apply(this, args));
    } catch (e) {
      fail(e);
      throw e;
    }
    if (out && typeof (out as PromiseLike<unknown>).then === "function")
      return (out as Promise<unknown>).then(succeed, (e) => {
        fail(e);
        throw e;
      });
    return succeed(out);
  };
  Object.defineProperty(wrapped, "name", { value: name });
  return wrapped as unknown as F;
}

// agl.display / agl.updateDisplay / agl.clearOutput: rich output in a
// notebook, the text/plain form anywhere else.
import { ValidationError } from "../types/errors.js";
import { kernelHook, markShownLive } from "./hook.js";
import { toMimeBundle } from "./mime.js";

export interface DisplayOptions {
  /** Give an id to update this output in place later with updateDisplay(id, ...). */
  displayId?: string;
  metadata?: Record<string, unknown>;
}

function checkOptions(where: string, opts: DisplayOptions | undefined): void {
  if (opts === undefined) return;
  if (typeof opts !== "object" || opts === null) throw new ValidationError(where, ["options must be an object"]);
  if (opts.displayId !== undefined && (typeof opts.displayId !== "string" || opts.displayId.length === 0)) {
    throw new ValidationError(where, ["displayId must be a non-empty string"]);
  }
}

/** Shows `value` as rich output (display_data) in a notebook; prints its text/plain form elsewhere. */
export function display(value: unknown, opts?: DisplayOptions): void {
  checkOptions("display", opts);
  const bundle = toMimeBundle(value);
  const hook = kernelHook();
  if (hook) {
    hook.display({ bundle, displayId: opts?.displayId, metadata: opts?.metadata });
    if (opts?.displayId !== undefined) markShownLive(value);
  } else console.log(typeof value === "string" ? value : bundle["text/plain"]);
}

/** Replaces the output shown earlier with `display(x, { displayId })`. */
export function updateDisplay(displayId: string, value: unknown, opts?: { metadata?: Record<string, unknown> }): void {
  checkOptions("updateDisplay", { displayId });
  const bundle = toMimeBundle(value);
  const hook = kernelHook();
  if (hook) hook.display({ bundle, displayId, update: true, metadata: opts?.metadata });
  else console.log(bundle["text/plain"]);
}

/** Clears the current cell's output; with wait, only when the next output arrives (no flicker). */
export function clearOutput(opts?: { wait?: boolean }): void {
  const wait = opts?.wait ?? false;
  if (typeof wait !== "boolean") throw new ValidationError("clearOutput", ["wait must be a boolean"]);
  kernelHook()?.clearOutput(wait);
}

let nextId = 0;
/** A fresh display id for in-place updates. */
export function newDisplayId(prefix = "agl"): string {
  nextId += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${nextId}`;
}

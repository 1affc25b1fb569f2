// The display protocol, Deno's convention: any value with a
// [Symbol.for("Jupyter.display")]() method returning a MIME bundle is shown
// by it. Library objects implement it so the kernel needs no special cases.

export const DISPLAY = Symbol.for("Jupyter.display");

/** MIME type -> data. JSON types (e.g. application/vnd.vegalite.v5+json) hold objects, others strings. */
export type MimeBundle = Record<string, unknown>;

export interface Displayable {
  [DISPLAY](): MimeBundle;
}

export function isDisplayable(x: unknown): x is Displayable {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as Record<symbol, unknown>)[DISPLAY] === "function";
}

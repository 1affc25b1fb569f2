// Turning any value into a MIME bundle: the display protocol first, then the
// formatters other modules register (tables from src/viz), then util.inspect.
import { inspect } from "node:util";
import { ValidationError } from "../types/errors.js";
import { DISPLAY, isDisplayable, type MimeBundle } from "./protocol.js";

/** Returns a bundle for values it knows, undefined for the rest. */
export type Formatter = (value: unknown) => MimeBundle | undefined;

interface FormatterEntry {
  name: string;
  format: Formatter;
}

// Kept on globalThis so that every copy of this module (tsx source, dist) shares one registry.
const REGISTRY = Symbol.for("arclight.display.formatters");

function registry(): FormatterEntry[] {
  const g = globalThis as Record<symbol, unknown>;
  if (!Array.isArray(g[REGISTRY])) g[REGISTRY] = [];
  return g[REGISTRY] as FormatterEntry[];
}

/** Registers (or replaces, by name) a formatter for values without a display method. */
export function registerFormatter(name: string, format: Formatter): void {
  if (typeof name !== "string" || name.length === 0) throw new ValidationError("registerFormatter", ["name must be a non-empty string"]);
  if (typeof format !== "function") throw new ValidationError("registerFormatter", ["format must be a function"]);
  const list = registry();
  const i = list.findIndex((e) => e.name === name);
  if (i >= 0) list[i] = { name, format };
  else list.push({ name, format });
}

export function unregisterFormatter(name: string): boolean {
  const list = registry();
  const i = list.findIndex((e) => e.name === name);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/** util.inspect, as the Node REPL shows values (strings quoted). */
export function plainText(value: unknown): string {
  return inspect(value, { depth: 4, colors: false, maxArrayLength: 50, breakLength: 100 });
}

function checkBundle(bundle: unknown, where: string): MimeBundle {
  if (typeof bundle !== "object" || bundle === null || Array.isArray(bundle)) {
    throw new ValidationError(where, ["a display method must return an object of MIME type -> data"]);
  }
  return bundle as MimeBundle;
}

/** The MIME bundle a notebook shows for `value`; always has text/plain. */
export function toMimeBundle(value: unknown): MimeBundle {
  let bundle: MimeBundle | undefined;
  if (isDisplayable(value)) {
    bundle = checkBundle(value[DISPLAY](), '[Symbol.for("Jupyter.display")]()');
  } else {
    for (const { name, format } of registry()) {
      const b = format(value);
      if (b !== undefined) {
        bundle = checkBundle(b, `formatter ${name}`);
        break;
      }
    }
  }
  if (bundle === undefined) return { "text/plain": plainText(value) };
  bundle = preferPNG(bundle);
  if (typeof bundle["text/plain"] !== "string") {
    return { ...bundle, "text/plain": isDisplayable(value) ? Object.prototype.toString.call(value) : plainText(value) };
  }
  return bundle;
}

/**
 * With a PNG at hand, an SVG copy does more harm than good: Debian's nbconvert 6.5 ranks
 * image/svg+xml above image/png and its HTML cleaner strips the SVG's children, leaving a blank
 * chart. The PNG shows everywhere (nbconvert, GitHub, classic Notebook); JupyterLab draws the
 * vega-lite spec when there is one.
 */
function preferPNG(bundle: MimeBundle): MimeBundle {
  if (typeof bundle["image/png"] !== "string" || bundle["image/svg+xml"] === undefined) return bundle;
  const { "image/svg+xml": _svg, ...rest } = bundle;
  return rest;
}

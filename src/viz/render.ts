// Vega-Lite spec -> Vega -> SVG string -> PNG, all in Node, synchronously.
// Synchronous because the display protocol's method returns a bundle, not a
// promise; charts carry their data inline, so nothing needs to load.

import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import { ValidationError } from "../types/errors.js";
import { CHART_FONT_FAMILY, chartFontPath, measureText } from "./font.js";

/** The parts of vega's runtime its typings leave out. */
interface VegaInternals {
  textMetrics: { width: (item: TextItem, text: unknown) => number };
  SVGStringRenderer: new (loader: unknown) => SvgStringRenderer;
}
interface TextItem {
  fontSize?: number | string;
  limit?: number;
}
interface SvgStringRenderer {
  initialize(el: null, width: number, height: number, origin: [number, number], scale: number): SvgStringRenderer;
  background(color: unknown): SvgStringRenderer;
  render(scene: unknown): SvgStringRenderer;
  svg(): string;
}
interface ViewInternals {
  _viewWidth: number;
  _viewHeight: number;
  _origin: [number, number];
  padding(): { left: number; right: number; top: number; bottom: number };
  background(): unknown;
  loader(): unknown;
  scenegraph(): { root: unknown };
  run(): unknown;
  finalize(): unknown;
}

const internals = vega as unknown as VegaInternals;
let metricsInstalled = false;

/**
 * Points vega's text layout at the bundled font's advance widths. Without a
 * canvas vega would guess 0.8 em per character, which clips or spaces labels
 * differently from what resvg then draws.
 */
function installTextMetrics(): void {
  if (metricsInstalled) return;
  internals.textMetrics.width = (item, text) => {
    const size = item.fontSize != null ? +item.fontSize || 0 : 11;
    const s = text == null ? "" : String(text).trim();
    if (size <= 0 || !s) return 0;
    const w = measureText(s, size);
    // Capped at the limit, not truncated here: vega's own truncation calls back into this function.
    return item.limit && item.limit > 0 ? Math.min(w, item.limit) : w;
  };
  metricsInstalled = true;
}

/** Vega-Lite -> Vega; throws ValidationError with vega-lite's message when the spec is invalid. */
export function compileSpec(spec: TopLevelSpec): vega.Spec {
  try {
    return vl.compile(spec).spec;
  } catch (err) {
    throw new ValidationError("chart spec", [(err as Error).message]);
  }
}

export function renderSVG(spec: TopLevelSpec): string {
  installTextMetrics();
  const vgSpec = compileSpec(spec);
  let runtime: vega.Runtime;
  try {
    runtime = vega.parse(vgSpec);
  } catch (err) {
    throw new ValidationError("chart spec", [(err as Error).message]);
  }
  const view = new vega.View(runtime, { renderer: "none" }) as unknown as ViewInternals;
  try {
    view.run();
    const pad = view.padding();
    const width = Math.max(0, view._viewWidth + pad.left + pad.right);
    const height = Math.max(0, view._viewHeight + pad.top + pad.bottom);
    const origin: [number, number] = [pad.left + view._origin[0], pad.top + view._origin[1]];
    const r = new internals.SVGStringRenderer(view.loader()).initialize(null, width, height, origin, 1).background(view.background());
    r.render(view.scenegraph().root);
    return r.svg();
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Pixels per SVG unit; 2 gives crisp images in reports. */
  scale?: number;
}

export function svgToPNG(svg: string, opts: PngOptions = {}): Buffer {
  const scale = opts.scale ?? 1;
  if (!(scale > 0 && scale <= 8)) throw new ValidationError("toPNG", [`scale must be in (0, 8], got ${scale}`]);
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: { fontFiles: [chartFontPath()], loadSystemFonts: false, defaultFontFamily: CHART_FONT_FAMILY },
  });
  return resvg.render().asPng();
}

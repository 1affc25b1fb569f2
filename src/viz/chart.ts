// A displayable chart: an editable vega-lite spec that renders itself as one
// MIME bundle (vega-lite JSON + SVG + PNG + text), because nbconvert and
// GitHub drop a vega-lite-only output.

import type { TopLevelSpec } from "vega-lite";
import { DISPLAY, type Displayable, type MimeBundle } from "../display/protocol.js";
import { ValidationError } from "../types/errors.js";
import { fmt, numbers, stats, type Row } from "./data.js";
import { CHART_FONT_CSS } from "./font.js";
import { compileSpec, renderSVG, svgToPNG, type PngOptions } from "./render.js";

export const VEGALITE_MIME = "application/vnd.vegalite.v5+json";
export const VEGALITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/**
 * Defaults every chart gets unless its spec says otherwise. Normal weights
 * everywhere because only the regular face of the font is bundled; a bold
 * title would be measured and drawn with different faces on other machines.
 */
export const CHART_THEME = {
  background: "white",
  font: CHART_FONT_CSS,
  view: { continuousWidth: 480, continuousHeight: 240 },
  title: { fontWeight: "normal", fontSize: 15, anchor: "start" },
  axis: { titleFontWeight: "normal", labelFontSize: 11, titleFontSize: 12 },
  legend: { titleFontWeight: "normal" },
  header: { titleFontWeight: "normal", labelFontWeight: "normal" },
} as const;

type Json = Record<string, unknown>;

function isPlainObject(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;
}

/** Deep merge where `over` wins; arrays replace. */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? merge(out[k] as Json, v) : v;
  return out;
}

export interface ChartOptions {
  /** Text summary shown as text/plain; computed from the spec's data when left out. */
  summary?: string | (() => string);
}

export class Chart implements Displayable {
  /** The vega-lite spec; edit it freely, the next render uses it. */
  spec: TopLevelSpec;
  private readonly summaryOverride?: string | (() => string);
  private cache: { key: string; svg: string } | null = null;

  constructor(spec: TopLevelSpec, opts: ChartOptions = {}) {
    this.spec = spec;
    this.summaryOverride = opts.summary;
  }

  /** Compiles the spec to Vega; throws ValidationError when vega-lite rejects it. */
  validate(): this {
    compileSpec(this.spec);
    return this;
  }

  toSVG(): string {
    const key = JSON.stringify(this.spec);
    if (this.cache?.key !== key) this.cache = { key, svg: renderSVG(this.spec) };
    return this.cache.svg;
  }

  /** PNG bytes, rasterized by resvg with the bundled font; scale 2 by default for reports. */
  toPNG(opts: PngOptions = {}): Buffer {
    return svgToPNG(this.toSVG(), { scale: opts.scale ?? 2 });
  }

  summary(): string {
    const s = this.summaryOverride;
    if (typeof s === "function") return s();
    if (typeof s === "string") return s;
    return specSummary(this.spec);
  }

  toJSON(): TopLevelSpec {
    return this.spec;
  }

  [DISPLAY](): MimeBundle {
    const svg = this.toSVG();
    return {
      // A JSON copy so a consumer that mutates or serializes it cannot reach back into this chart.
      [VEGALITE_MIME]: JSON.parse(JSON.stringify(this.spec)),
      "image/svg+xml": svg,
      "image/png": svgToPNG(svg, { scale: 1 }).toString("base64"),
      "text/plain": this.summary(),
    };
  }
}

/** The generic entry: any vega-lite v5 spec (object) with Arclight's theme under the spec's own config. */
export function chart(spec: unknown, opts: ChartOptions = {}): Chart {
  if (!isPlainObject(spec)) throw new ValidationError("chart", ["spec must be a vega-lite spec object"]);
  const schema = spec.$schema;
  if (schema !== undefined && (typeof schema !== "string" || !/vega-lite\/v[56]/.test(schema))) {
    throw new ValidationError("chart", [`$schema must be a vega-lite v5 schema URL, got ${JSON.stringify(schema)}`]);
  }
  const config = isPlainObject(spec.config) ? spec.config : {};
  const full = { ...spec, $schema: VEGALITE_SCHEMA, config: merge(CHART_THEME as unknown as Json, config) } as unknown as TopLevelSpec;
  return new Chart(full, opts).validate();
}

// ---------------------------------------------------------------------------
// Text summary of an arbitrary spec: title, points, and the y field's range.

function inlineRows(spec: Json): Row[] {
  const data = spec.data as Json | undefined;
  if (data && Array.isArray(data.values)) return data.values as Row[];
  for (const key of ["layer", "hconcat", "vconcat", "concat"]) {
    const parts = spec[key];
    if (Array.isArray(parts))
      for (const p of parts)
        if (isPlainObject(p)) {
          const rows = inlineRows(p);
          if (rows.length) return rows;
        }
  }
  return [];
}

function yField(spec: Json): string | null {
  const enc = spec.encoding as Json | undefined;
  const y = enc?.y as Json | undefined;
  if (y && typeof y.field === "string") return y.field;
  if (Array.isArray(spec.layer))
    for (const l of spec.layer)
      if (isPlainObject(l)) {
        const f = yField(l);
        if (f) return f;
      }
  return null;
}

function titleText(spec: Json): string {
  const t = spec.title;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return t.join(" ");
  if (isPlainObject(t) && (typeof t.text === "string" || Array.isArray(t.text))) return [t.text].flat().join(" ");
  return "chart";
}

export function specSummary(spec: TopLevelSpec): string {
  const s = spec as unknown as Json;
  const rows = inlineRows(s);
  const field = yField(s);
  const parts = [`${titleText(s)}: ${rows.length} points`];
  if (field) {
    const st = stats(numbers(rows, field));
    if (st) parts.push(`${field} min ${fmt(st.min)} mean ${fmt(st.mean)} max ${fmt(st.max)}`);
  }
  return parts.join("; ");
}

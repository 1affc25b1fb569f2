// The bundled chart font (DejaVu Sans, assets/fonts/) and text measurement
// from its own advance widths, so vega's layout and resvg's rasterizing agree
// and a chart looks the same on every machine, with or without system fonts.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const CHART_FONT_FAMILY = "DejaVu Sans";
/** What the SVG asks for: the bundled face first, a generic fallback for browsers without it. */
export const CHART_FONT_CSS = `${CHART_FONT_FAMILY}, Verdana, sans-serif`;
const FONT_FILE = "DejaVuSans.ttf";

let fontPathCache: string | null = null;

/** Absolute path of the bundled TTF. Walks up from this module because src/ and dist/src/ sit at different depths. */
export function chartFontPath(): string {
  if (fontPathCache) return fontPathCache;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "assets", "fonts", FONT_FILE);
    if (existsSync(candidate)) return (fontPathCache = candidate);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`bundled chart font assets/fonts/${FONT_FILE} not found above ${fileURLToPath(import.meta.url)}`);
}

/** Advance widths of one TrueType font, in font units, looked up by code point. */
export interface FontMetrics {
  unitsPerEm: number;
  advance(codePoint: number): number;
}

interface TableRecord {
  offset: number;
  length: number;
}

function tableDirectory(buf: Buffer): Map<string, TableRecord> {
  const numTables = buf.readUInt16BE(4);
  const tables = new Map<string, TableRecord>();
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + i * 16;
    tables.set(buf.toString("latin1", rec, rec + 4), { offset: buf.readUInt32BE(rec + 8), length: buf.readUInt32BE(rec + 12) });
  }
  return tables;
}

function need(tables: Map<string, TableRecord>, tag: string): TableRecord {
  const t = tables.get(tag);
  if (!t) throw new Error(`font has no ${tag} table`);
  return t;
}

/** Code point -> glyph id from the cmap's Windows Unicode subtable (format 12 preferred, else format 4). */
function readCmap(buf: Buffer, cmap: TableRecord): Map<number, number> {
  const n = buf.readUInt16BE(cmap.offset + 2);
  let fmt4 = -1;
  let fmt12 = -1;
  for (let i = 0; i < n; i++) {
    const rec = cmap.offset + 4 + i * 8;
    const platform = buf.readUInt16BE(rec);
    const encoding = buf.readUInt16BE(rec + 2);
    const sub = cmap.offset + buf.readUInt32BE(rec + 4);
    const format = buf.readUInt16BE(sub);
    if (platform === 3 && encoding === 10 && format === 12) fmt12 = sub;
    if ((platform === 3 && encoding === 1) || platform === 0) {
      if (format === 4 && fmt4 < 0) fmt4 = sub;
    }
  }
  const map = new Map<number, number>();
  if (fmt12 >= 0) {
    const groups = buf.readUInt32BE(fmt12 + 12);
    for (let g = 0; g < groups; g++) {
      const rec = fmt12 + 16 + g * 12;
      const start = buf.readUInt32BE(rec);
      const end = buf.readUInt32BE(rec + 4);
      const glyph = buf.readUInt32BE(rec + 8);
      for (let c = start; c <= end; c++) map.set(c, glyph + (c - start));
    }
    return map;
  }
  if (fmt4 < 0) throw new Error("font has no Unicode cmap subtable");
  const segX2 = buf.readUInt16BE(fmt4 + 6);
  const ends = fmt4 + 14;
  const starts = ends + segX2 + 2;
  const deltas = starts + segX2;
  const rangeOffsets = deltas + segX2;
  for (let s = 0; s < segX2; s += 2) {
    const end = buf.readUInt16BE(ends + s);
    const start = buf.readUInt16BE(starts + s);
    const delta = buf.readInt16BE(deltas + s);
    const ro = buf.readUInt16BE(rangeOffsets + s);
    for (let c = start; c <= end && c !== 0xffff; c++) {
      let glyph: number;
      if (ro === 0) glyph = (c + delta) & 0xffff;
      else {
        const at = rangeOffsets + s + ro + (c - start) * 2;
        glyph = buf.readUInt16BE(at);
        if (glyph !== 0) glyph = (glyph + delta) & 0xffff;
      }
      if (glyph !== 0) map.set(c, glyph);
    }
  }
  return map;
}

/** Parses the cmap, head, hhea and hmtx tables of a TrueType file. */
export function parseFontMetrics(buf: Buffer): FontMetrics {
  const tables = tableDirectory(buf);
  const head = need(tables, "head");
  const hhea = need(tables, "hhea");
  const hmtx = need(tables, "hmtx");
  const unitsPerEm = buf.readUInt16BE(head.offset + 18);
  const numberOfHMetrics = buf.readUInt16BE(hhea.offset + 34);
  const advances = new Uint16Array(numberOfHMetrics);
  for (let i = 0; i < numberOfHMetrics; i++) advances[i] = buf.readUInt16BE(hmtx.offset + i * 4);
  const cmap = readCmap(buf, need(tables, "cmap"));
  const last = advances[numberOfHMetrics - 1];
  const notdef = advances[0];
  return {
    unitsPerEm,
    advance(codePoint: number): number {
      const glyph = cmap.get(codePoint);
      if (glyph === undefined) return notdef;
      return glyph < numberOfHMetrics ? advances[glyph] : last;
    },
  };
}

let metricsCache: FontMetrics | null = null;

export function chartFontMetrics(): FontMetrics {
  return (metricsCache ??= parseFontMetrics(readFileSync(chartFontPath())));
}

/** Width in pixels of `text` set in the bundled font at `fontSize` px, without kerning. */
export function measureText(text: string, fontSize: number): number {
  const m = chartFontMetrics();
  let units = 0;
  for (const ch of text) units += m.advance(ch.codePointAt(0)!);
  return (units * fontSize) / m.unitsPerEm;
}

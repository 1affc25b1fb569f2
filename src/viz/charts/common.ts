// What the charts share: reading values out of frame rows, checking the
// columns a chart needs, and axis titles for the columns frames produce.

import { ValidationError } from "../../types/errors.js";
import { hasField, type Row } from "../data.js";

/** A group or label key: Dates as ISO text, the rest as String(v). */
export function str(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

/** A plottable number: Dates as epoch ms, bigints and booleans converted, anything else NaN. */
export function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === "boolean") return v ? 1 : 0;
  return NaN;
}

/** A named column must exist (when there are rows), or the chart says which columns there are. */
export function checkField(rows: Row[], field: string, where: string): void {
  if (rows.length > 0 && !rows.some((r) => field in r)) {
    const cols = Object.keys(rows[0]).join(", ");
    throw new ValidationError(where, [`frame has no column ${JSON.stringify(field)} (columns: ${cols})`]);
  }
}

/** Distinct non-null values of a column, in first-seen order. */
export function distinct(rows: Row[], field: string): unknown[] {
  return [...new Set(rows.map((r) => r[field]).filter((v) => v !== null && v !== undefined))];
}

/** The reward column: the one asked for, else the first of the reward columns frames produce. */
export function pickY(rows: Row[], y: string | undefined, where: string): string {
  if (y) {
    checkField(rows, y, where);
    return y;
  }
  for (const c of ["value", "reward", "final_reward", "new_reward"]) if (hasField(rows, c)) return c;
  throw new ValidationError(where, ["frame has no reward column (value, reward or final_reward); pass { y }"]);
}

/** Axis titles for the x columns frames produce; other columns are titled by name. */
export const X_TITLES: Record<string, string> = {
  step: "training step",
  time: "wall clock (UTC)",
  start_time: "wall clock (UTC)",
  end_time: "wall clock (UTC)",
  index: "reward # (in order)",
  resources_version: "resources version",
};

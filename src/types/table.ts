// Tables as the data layer hands them over: an arquero table recognised by
// shape, and the column types its builder declared. Frames produce them and
// displays read them; both import from here, so data never imports display.

/** An arquero table, recognised by shape so any copy of arquero works. */
export interface ArqueroLike {
  columnNames(): string[];
  numRows(): number;
  objects(opts?: { limit?: number; offset?: number }): Record<string, unknown>[];
  column(name: string): { at(i: number): unknown; length: number } | undefined;
}

export function isArqueroTable(x: unknown): x is ArqueroLike {
  const t = x as ArqueroLike | null;
  return (
    typeof t === "object" &&
    t !== null &&
    typeof t.columnNames === "function" &&
    typeof t.numRows === "function" &&
    typeof t.objects === "function" &&
    typeof t.column === "function"
  );
}

const DECLARED = new WeakMap<object, Record<string, string>>();

/** Records the column types of a table built with a known schema; displays prefer them to inference. */
export function declareColumnTypes<T extends object>(t: T, types: Record<string, string>): T {
  DECLARED.set(t, types);
  return t;
}

/** The column types declared for `t`, if its builder declared them. */
export function declaredColumnTypes(t: object): Record<string, string> | undefined {
  return DECLARED.get(t);
}

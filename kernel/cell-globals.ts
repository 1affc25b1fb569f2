// Declarations every cell sees: the `agl` global, and the ES2023 array
// methods Node 20 has but tslab's bundled TypeScript 5.0 lacks. They live in
// a module of their own (CELL_GLOBALS_MODULE), never in the previous cells'
// declarations: tslab rewrites every name declared there to `exports.NAME`,
// which turned `Array.from` into `exports.Array.from` (undefined).
export const CELL_GLOBALS_MODULE = "__arclight_globals__";
export const CELL_GLOBALS = `declare global {
  const agl: typeof import("arclight");
  // @types/node declares these globals as values only; cells use them as types too.
  type TextEncoder = import("node:util").TextEncoder;
  type TextDecoder = import("node:util").TextDecoder;
  interface Array<T> {
    findLast<S extends T>(predicate: (value: T, index: number, array: T[]) => value is S, thisArg?: any): S | undefined;
    findLast(predicate: (value: T, index: number, array: T[]) => unknown, thisArg?: any): T | undefined;
    findLastIndex(predicate: (value: T, index: number, array: T[]) => unknown, thisArg?: any): number;
    toReversed(): T[];
    toSorted(compareFn?: (a: T, b: T) => number): T[];
    toSpliced(start: number, deleteCount: number, ...items: T[]): T[];
    toSpliced(start: number, deleteCount?: number): T[];
    with(index: number, value: T): T[];
  }
  interface ReadonlyArray<T> {
    findLast<S extends T>(predicate: (value: T, index: number, array: readonly T[]) => value is S, thisArg?: any): S | undefined;
    findLast(predicate: (value: T, index: number, array: readonly T[]) => unknown, thisArg?: any): T | undefined;
    findLastIndex(predicate: (value: T, index: number, array: readonly T[]) => unknown, thisArg?: any): number;
    toReversed(): T[];
    toSorted(compareFn?: (a: T, b: T) => number): T[];
    toSpliced(start: number, deleteCount: number, ...items: T[]): T[];
    toSpliced(start: number, deleteCount?: number): T[];
    with(index: number, value: T): T[];
  }
}
`;

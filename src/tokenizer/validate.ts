// Input checks shared by the tokenizers' public methods.
import { ValidationError } from "../types/errors.js";

export function checkText(where: string, text: unknown): asserts text is string {
  if (typeof text !== "string") throw new ValidationError(where, [`text must be a string, got ${text === null ? "null" : typeof text}`]);
}

/** Ids must be integers naming a token that exists; returns them as a plain array. */
export function checkIds(where: string, ids: unknown, exists: (id: number) => boolean, vocabSize: number): number[] {
  if (ids === null || typeof ids !== "object" || typeof (ids as ArrayLike<number>).length !== "number")
    throw new ValidationError(where, ["ids must be an array of integers"]);
  const arr = Array.from(ids as ArrayLike<unknown>);
  for (let i = 0; i < arr.length; i++) {
    const id = arr[i];
    if (typeof id !== "number" || !Number.isInteger(id)) throw new ValidationError(where, [`ids[${i}] is ${String(id)}, not an integer`]);
    if (id < 0 || id >= vocabSize || !exists(id))
      throw new ValidationError(where, [`ids[${i}] = ${id} is not a token id (vocab size ${vocabSize})`]);
  }
  return arr as number[];
}

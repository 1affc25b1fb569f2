// Typed errors that every boundary (cell API, HTTP, files) throws, so callers
// can tell bad input from missing records from internal failure.

export class ValidationError extends TypeError {
  override readonly name = "ValidationError";
  constructor(
    readonly where: string,
    readonly issues: string[],
  ) {
    super(`${where}: ${issues.join("; ")}`);
  }
}

export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} not found: ${id}`);
  }
}

export class StoreClosedError extends Error {
  override readonly name = "StoreClosedError";
  constructor(what = "store") {
    super(`${what} is closed`);
  }
}

export class ReadOnlyStoreError extends Error {
  override readonly name = "ReadOnlyStoreError";
  constructor(op: string) {
    super(`store was opened read-only; ${op} is not allowed`);
  }
}

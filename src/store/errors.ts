// Errors particular to durable store directories.

/** Another live process holds the writer lock of the directory. */
export class StoreLockedError extends Error {
  override readonly name = "StoreLockedError";
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`store ${dir} is open for writing by process ${pid}; open it with { readOnly: true } to read alongside`);
  }
}

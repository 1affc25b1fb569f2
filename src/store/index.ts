// Public face of the store: openStore() and the types callers need.

import { parseOrThrow } from "../types/validate.js";
import { ValidationError } from "../types/errors.js";
import { StoreOptionsSchema, type StoreOptions } from "./store-options.js";
import type { LightningStore } from "./lightning-store.js";
import { MemoryStore } from "./memory-store.js";
import { DurableStore } from "./durable-store.js";

export type { LightningStore, RolloutQuery, StoreStatistics, WaitOptions, DequeueOptions } from "./lightning-store.js";
export { StoreOptionsSchema, type StoreOptions } from "./store-options.js";
export { MemoryStore } from "./memory-store.js";
export { DurableStore } from "./durable-store.js";
export { StoreLockedError } from "./errors.js";
export { connectStore, RemoteStore, ConnectOptionsSchema, type ConnectOptions } from "./remote-store.js";
export { RemoteStoreError } from "./remote-protocol.js";
export type { FsyncPolicy } from "./wal.js";
export { SPAN_COLUMNS, SPAN_COLUMN_NAMES, STORE_LAYOUT, promotedColumns, readWalSpans, type SpanColumnName } from "./parquet-layout.js";

/**
 * `await openStore()` is an in-memory store; `await openStore("runs/x")` the
 * durable store in that directory (created if missing).
 */
export async function openStore(dir?: string, opts: StoreOptions = {}): Promise<LightningStore> {
  const o = parseOrThrow(StoreOptionsSchema, opts, "openStore");
  if (dir === undefined) {
    if (o.readOnly) throw new ValidationError("openStore", ["readOnly: needs a directory (an in-memory store has nothing to read)"]);
    return new MemoryStore(o);
  }
  return DurableStore.open(dir, o);
}

// `agl.store`: openStore() and connectStore(), the store classes and the types callers need.
// Its layout (SPAN_COLUMNS, STORE_LAYOUT, the WAL reader) and option schemas are internals.

import { parseOrThrow } from "../types/validate.js";
import { ValidationError } from "../types/errors.js";
import { StoreOptionsSchema, type StoreOptions } from "./store-options.js";
import type { LightningStore } from "./lightning-store.js";
import { MemoryStore } from "./memory-store.js";
import { DurableStore } from "./durable-store.js";

export type { LightningStore, RolloutQuery, StoreStatistics, WaitOptions, DequeueOptions } from "./lightning-store.js";
export type { StoreOptions } from "./store-options.js";
export { MemoryStore } from "./memory-store.js";
export { DurableStore } from "./durable-store.js";
export { StoreLockedError } from "./errors.js";
export { connectStore, RemoteStore, type ConnectOptions } from "./remote-store.js";
export { RemoteStoreError } from "./remote-protocol.js";
export type { FsyncPolicy } from "./wal.js";

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

// The in-memory LightningStore: the shared logic with nothing to persist.

import { parseOrThrow } from "../types/validate.js";
import { BaseStore } from "./base-store.js";
import { StoreOptionsSchema, type StoreOptions } from "./store-options.js";

export class MemoryStore extends BaseStore {
  readonly kind = "memory" as const;

  constructor(opts: StoreOptions = {}) {
    const o = parseOrThrow(StoreOptionsSchema, opts, "MemoryStore");
    super({ ...o, readOnly: false });
    this.startDeadlineTimer(o.deadlineCheckIntervalMs ?? 1000);
  }

  protected persist(): void {}

  override async close(): Promise<void> {
    if (this.closed) return;
    await super.close();
    this.releaseMemory();
  }
}

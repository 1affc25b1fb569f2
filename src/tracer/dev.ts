// Outside a rollout, the emit helpers write into a dev store (in memory,
// created on first use) so a notebook cell can try them without a runner.
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { LightningStore } from "../store/lightning-store.js";
import type { Span } from "../types/index.js";
import { openStore } from "../store/index.js";

export const DEV_ROLLOUT_ID = "ro-dev";

class DevScope {
  private ready: Promise<{ store: LightningStore; attemptId: string }> | null = null;
  private readonly pending = new Set<Promise<unknown>>();

  private open() {
    this.ready ??= (async () => {
      const store = await openStore();
      const r = await store.startRollout({ rolloutId: DEV_ROLLOUT_ID, input: null, metadata: { dev: true } });
      return { store, attemptId: r.attempt.attemptId };
    })();
    return this.ready;
  }

  record(span: ReadableSpan): void {
    const p: Promise<Span | void> = this.open()
      .then(({ store, attemptId }) => store.addOtelSpan(DEV_ROLLOUT_ID, attemptId, span))
      .catch((e) => {
        // A dev write must never break the cell that emitted it; say why it was lost.
        console.warn(`arclight: dev span not recorded: ${(e as Error).message}`);
      });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async store(): Promise<LightningStore> {
    await this.flush();
    return (await this.open()).store;
  }

  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}

let dev: DevScope | null = null;
export function devScope(): DevScope {
  dev ??= new DevScope();
  return dev;
}

/** The store that spans emitted outside any rollout go to (rollout id "ro-dev"). */
export function devStore(): Promise<LightningStore> {
  return devScope().store();
}

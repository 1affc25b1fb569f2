// Remembers the outcome of recent writes by their idempotency key, so a client
// that retries after a lost response gets the first answer. A duplicate that
// arrives while the first is still running waits for it rather than racing it.

export interface Outcome {
  status: number;
  body: unknown;
}

export class IdempotencyCache {
  private readonly entries = new Map<string, Promise<Outcome>>();

  constructor(private readonly capacity = 50_000) {}

  async run(key: string, fn: () => Promise<Outcome>): Promise<Outcome> {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const p = fn();
    this.entries.set(key, p);
    // Oldest first out: Map iteration follows insertion order.
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    const out = await p;
    // A server-side failure (shutting down, timeout) did not apply the write: let the retry run it.
    if (out.status >= 500) this.entries.delete(key);
    return out;
  }
}

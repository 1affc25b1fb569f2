// The Trainer wires an algorithm to a pool of runners over one store:
// the algorithm fills the queue, runners drain it, and both stop together.
import { setMaxListeners } from "node:events";
import type { LightningStore } from "../store/lightning-store.js";
import { openStore } from "../store/index.js";
import type { RolloutConfigInput } from "../types/index.js";
import { parseOrThrow } from "../types/index.js";
import { RolloutConfigSchema } from "../types/rollout.js";
import { Runner } from "../runner/runner.js";
import { isAgent, type Agent } from "../runner/agent.js";
import type { Hooks } from "../runner/hooks.js";
import type { Algorithm } from "../algorithm/algorithm.js";
import { BaselineAlgorithm, type BaselineResult } from "../algorithm/baseline.js";
import { RunnerProcessesSchema, startRunnerPool, type RunnerProcessesOptions } from "./runner-processes.js";

export interface TrainerOptions {
  /** Defaults to a fresh in-memory store. */
  store?: LightningStore;
  algorithm?: Algorithm<unknown>;
  /** Concurrent runners in this process; 0 when runners run elsewhere (`arclight runner` against a served store). */
  nRunners?: number;
  /**
   * Runners in child processes instead: the trainer serves its store on
   * loopback and starts `processes` runner processes loading the agent from
   * `module`. In-process runners (nRunners) stay the default.
   */
  runners?: RunnerProcessesOptions;
  maxAttempts?: number;
  timeoutSeconds?: number;
  unresponsiveSeconds?: number;
  hooks?: Hooks;
  heartbeatMs?: number;
  /** Where progress lines go (default: console.log); pass () => {} to silence. */
  log?: (message: string) => void;
}

export interface FitData {
  train: readonly unknown[];
  val?: readonly unknown[];
}

export class Trainer {
  private storePromise: Promise<LightningStore>;
  private readonly opts: TrainerOptions;
  private readonly rolloutConfig: RolloutConfigInput;

  constructor(opts: TrainerOptions = {}) {
    const n = opts.nRunners ?? 1;
    if (!Number.isInteger(n) || n < 0 || n > 1024) throw new TypeError(`Trainer: nRunners must be an integer in 0..1024, got ${n}`);
    this.rolloutConfig = parseOrThrow(
      RolloutConfigSchema,
      { maxAttempts: opts.maxAttempts, timeoutSeconds: opts.timeoutSeconds, unresponsiveSeconds: opts.unresponsiveSeconds },
      "Trainer options",
    );
    const runners = opts.runners === undefined ? undefined : parseOrThrow(RunnerProcessesSchema, opts.runners, "Trainer runners");
    if (runners && opts.hooks)
      throw new TypeError("Trainer: hooks run inside in-process runners; they cannot reach runner processes (drop `runners` or `hooks`)");
    this.opts = { ...opts, nRunners: n, runners };
    this.storePromise = opts.store ? Promise.resolve(opts.store) : openStore();
  }

  get store(): Promise<LightningStore> {
    return this.storePromise;
  }

  /** Runs `algorithm` (default: baseline) with nRunners runners executing `agent`. Abort `signal` to stop. */
  async fit<R = unknown>(agent: Agent<any>, data: FitData, opts: { signal?: AbortSignal } = {}): Promise<R> {
    if (!isAgent(agent)) throw new TypeError("fit(agent, data): agent must come from agl.rollout(fn)");
    if (!data || !Array.isArray(data.train)) throw new TypeError("fit(agent, { train, val }): train must be an array of tasks");
    if (data.val !== undefined && !Array.isArray(data.val))
      throw new TypeError("fit(agent, { train, val }): val must be an array of tasks");
    const store = await this.storePromise;
    const algorithm = (this.opts.algorithm ?? new BaselineAlgorithm()) as Algorithm<R>;
    const stop = new AbortController();
    // Every runner and each of its attempts listen on this one signal.
    setMaxListeners(0, stop.signal);
    const onUserAbort = () => stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onUserAbort, { once: true });
    const log = this.opts.log ?? ((m: string) => console.log(m));
    const pool = this.opts.runners ? await startRunnerPool(store, this.opts.runners, { heartbeatMs: this.opts.heartbeatMs, log }) : null;
    const runners = pool
      ? []
      : Array.from(
          { length: this.opts.nRunners! },
          (_, i) => new Runner({ store, agent, workerId: `runner-${i}`, hooks: this.opts.hooks, heartbeatMs: this.opts.heartbeatMs }),
        );
    const running = runners.map((r) => r.iterate({ signal: stop.signal }));
    try {
      return await algorithm.run({
        store,
        train: data.train,
        val: data.val ?? [],
        rolloutConfig: this.rolloutConfig,
        signal: stop.signal,
        log,
      });
    } finally {
      stop.abort(new Error("fit finished"));
      opts.signal?.removeEventListener("abort", onUserAbort);
      await Promise.allSettled(running);
      await pool?.stop();
    }
  }

  /** A quick run of `agent` over `dataset` with the baseline algorithm; traces stay in the store. */
  async dev(
    agent: Agent<any>,
    dataset: readonly unknown[],
    opts: { signal?: AbortSignal } = {},
  ): Promise<BaselineResult & { store: LightningStore }> {
    if (!Array.isArray(dataset)) throw new TypeError("dev(agent, dataset): dataset must be an array of tasks");
    const saved = this.opts.algorithm;
    this.opts.algorithm = new BaselineAlgorithm();
    try {
      const result = await this.fit<BaselineResult>(agent, { train: dataset }, opts);
      return { ...result, store: await this.storePromise };
    } finally {
      this.opts.algorithm = saved;
    }
  }
}

// `arclight runner --store URL --agent ./agent.ts [--runners N]`: runners in
// this process take rollouts from a store server until SIGINT / SIGTERM.

import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { connectStore } from "../store/remote-store.js";
import { loadAgentModule } from "./agent-module.js";
import { Runner } from "./runner.js";

export class RunnerUsageError extends Error {}

export async function runnerCommand(args: string[], log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<number> {
  let values: { store?: string; agent?: string; token?: string; runners?: string; "heartbeat-ms"?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        store: { type: "string" },
        agent: { type: "string" },
        token: { type: "string" },
        runners: { type: "string" },
        "heartbeat-ms": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new RunnerUsageError((e as Error).message);
  }
  if (!values.store) throw new RunnerUsageError("--store URL is required");
  if (!values.agent) throw new RunnerUsageError("--agent MODULE is required");
  const n = values.runners === undefined ? 1 : Number(values.runners);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new RunnerUsageError(`--runners must be an integer in 1..1024, got ${values.runners}`);
  const heartbeatMs = values["heartbeat-ms"] === undefined ? undefined : Number(values["heartbeat-ms"]);
  if (heartbeatMs !== undefined && !(Number.isInteger(heartbeatMs) && heartbeatMs >= 10))
    throw new RunnerUsageError(`--heartbeat-ms must be an integer >= 10`);

  const agent = await loadAgentModule(values.agent);
  // Long-poll the server for work instead of asking every few milliseconds.
  const store = await connectStore(values.store, { token: values.token, dequeueWaitMs: 1000 });
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    log(`arclight runner: stopping (finishing current rollouts)`);
    stop.abort();
    store.cancelWaits();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const prefix = `${hostname()}-${process.pid}`;
  const runners = Array.from({ length: n }, (_, i) => new Runner({ store, agent, workerId: `${prefix}-${i}`, heartbeatMs }));
  process.stdout.write(`arclight runner ready: ${n} runner(s) for agent ${agent.name} on ${store.url}\n`);
  try {
    const counts = await Promise.all(runners.map((r) => r.iterate({ signal: stop.signal })));
    log(`arclight runner: ran ${counts.reduce((a, b) => a + b, 0)} rollout(s)`);
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await store.close();
  }
}

// Runners in child processes (Agent Lightning's client-server strategy): the
// trainer serves its store on loopback with a fresh token and starts N
// `arclight runner` processes against it. A runner that dies is just a
// worker that stopped heartbeating; the store's retry policy covers it.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { z } from "zod";
import type { LightningStore } from "../store/lightning-store.js";
import { startStoreServer, type StoreServer } from "../server/store-server.js";

export const RunnerProcessesSchema = z
  .object({
    /** How many runner processes to start. */
    processes: z.number().int().min(1).max(256),
    /** The module the processes load the agent from (it exports an agl.rollout(...) agent); .ts works. */
    module: z.string().min(1),
    /** Runners (concurrent rollouts) inside each process (default 1). */
    runnersPerProcess: z.number().int().min(1).max(1024).optional(),
  })
  .strict();
export type RunnerProcessesOptions = z.infer<typeof RunnerProcessesSchema>;

export interface RunnerPool {
  readonly server: StoreServer;
  readonly children: ChildProcess[];
  /** SIGTERM (finish current rollouts), SIGKILL after graceMs, then close the server. */
  stop(graceMs?: number): Promise<void>;
}

const CLI = fileURLToPath(new URL(`../cli/main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url));
// Running from TypeScript sources (tests, tsx): the children need the same loader.
const NODE_ARGS = CLI.endsWith(".ts") ? ["--import", "tsx"] : [];

export async function startRunnerPool(
  store: LightningStore,
  opts: RunnerProcessesOptions,
  extra: { heartbeatMs?: number; log?: (m: string) => void } = {},
): Promise<RunnerPool> {
  const token = randomBytes(24).toString("hex");
  const server = await startStoreServer({ store, port: 0, token });
  const children: ChildProcess[] = [];
  const log = extra.log ?? (() => {});
  const args = () => [
    ...NODE_ARGS,
    CLI,
    "runner",
    "--store",
    server.url,
    "--agent",
    resolve(opts.module),
    "--runners",
    String(opts.runnersPerProcess ?? 1),
    ...(extra.heartbeatMs ? ["--heartbeat-ms", String(extra.heartbeatMs)] : []),
  ];
  try {
    await Promise.all(
      Array.from({ length: opts.processes }, () => {
        const child = spawn(process.execPath, args(), {
          env: { ...process.env, ARCLIGHT_TOKEN: token },
          stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(child);
        return new Promise<void>((ready, fail) => {
          let out = "";
          let err = "";
          child.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            if (out.includes("arclight runner ready")) ready();
          });
          child.stderr!.on("data", (d: Buffer) => {
            err += d.toString();
            for (const line of d.toString().split("\n")) if (line.trim()) log(`runner ${child.pid}: ${line}`);
          });
          child.once("exit", (code, sig) =>
            fail(new Error(`runner process exited before it was ready (${sig ?? code}): ${err.trim().slice(-500)}`)),
          );
        });
      }),
    );
  } catch (e) {
    await stopAll(children, 0);
    await server.close();
    throw e;
  }
  log(`runners: ${opts.processes} process(es) on ${server.url}`);
  return {
    server,
    children,
    async stop(graceMs = 5000) {
      await stopAll(children, graceMs);
      await server.close();
    },
  };
}

async function stopAll(children: ChildProcess[], graceMs: number): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          const kill = setTimeout(() => c.kill("SIGKILL"), graceMs);
          c.once("exit", () => {
            clearTimeout(kill);
            done();
          });
          c.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
        }),
    ),
  );
}

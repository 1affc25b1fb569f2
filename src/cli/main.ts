#!/usr/bin/env node
// `npx arclight ...`. The CLI sits on top of everything (DESIGN.md), so it
// may load kernel/ — lazily, by path, so the library never does.
import { dispatch, registerCommand, UsageError } from "./commands.js";

// Resolved at run time against this file: dist/src/cli -> dist/kernel, src/cli -> kernel.
const kernelModule = (name: string): string => new URL(`../../kernel/${name}`, import.meta.url).href;
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

registerCommand("kernel", {
  summary: "install or uninstall the Arclight Jupyter kernelspec",
  usage: [
    "usage: arclight kernel install [--user | --prefix DIR]",
    "       arclight kernel uninstall [--user | --prefix DIR]",
    'Registers (removes) the Jupyter kernelspec `arclight`, "Arclight (TypeScript)".',
    "Default location: the per-user Jupyter data dir; --prefix DIR uses DIR/share/jupyter/kernels.",
  ].join("\n"),
  run: async (args) => {
    const m = (await import(kernelModule(`kernel-command${ext}`))) as { kernelCommand(a: string[]): Promise<number> };
    return asUsage(() => m.kernelCommand(args));
  },
});

registerCommand("run", {
  summary: "execute a notebook headlessly on the Arclight kernel and write outputs / an HTML report",
  usage: [
    "usage: arclight run NOTEBOOK.ipynb [--out EXECUTED.ipynb] [--html REPORT.html] [--timeout SECONDS]",
    "Starts a private Jupyter server, runs every code cell on the arclight kernel, saves the",
    "outputs (default: overwrite nothing; --out to save) and a self-contained HTML report.",
    "--timeout is per cell (default 600). A failing cell exits 1 with the cell number and error.",
  ].join("\n"),
  run: async (args) => {
    const m = (await import(kernelModule(`run-command${ext}`))) as { runCommand(a: string[]): Promise<number> };
    return asUsage(() => m.runCommand(args));
  },
});

// Library modules throw their own usage errors (they may not import the CLI); shown with the usage here.
const asUsage = async (run: () => Promise<number>): Promise<number> => {
  try {
    return await run();
  } catch (e) {
    if (e instanceof Error && /UsageError$/.test(e.constructor.name)) throw new UsageError(e.message);
    throw e;
  }
};

registerCommand("store", {
  summary: "serve a store over HTTP for runners on other processes or machines (store serve)",
  usage: [
    "usage: arclight store serve [--dir DIR] [--host 127.0.0.1] [--port 4747] [--token T]",
    "Serves the store in DIR (durable; in memory without --dir) over HTTP: every store",
    "operation under /v1/agl/..., OpenAPI at /v1/agl/openapi.json, GET /health, OTLP at",
    "POST /v1/traces. Binding beyond loopback (--host 0.0.0.0) requires --token (or",
    "$ARCLIGHT_TOKEN); clients send it as `authorization: Bearer T`.",
  ].join("\n"),
  run: async ([sub, ...rest]) => {
    if (sub !== "serve") throw new UsageError(sub === undefined ? "missing subcommand (serve)" : `unknown subcommand ${sub}`);
    const m = await import(`../server/serve-command${ext}`);
    return asUsage(() => (m as { serveCommand(a: string[]): Promise<number> }).serveCommand(rest));
  },
});

registerCommand("runner", {
  summary: "run rollouts of an agent module against a store server",
  usage: [
    "usage: arclight runner --store URL --agent MODULE [--token T] [--runners N] [--heartbeat-ms MS]",
    "Runs N runners (default 1) in this process against the store server at URL",
    "(`arclight store serve`). MODULE exports an agl.rollout(...) agent (default export,",
    "`agent`, or its only agent); .ts modules load without a build step.",
    "The token defaults to $ARCLIGHT_TOKEN. Stops cleanly on SIGINT / SIGTERM.",
  ].join("\n"),
  run: async (args) => {
    const m = await import(`../runner/runner-command${ext}`);
    return asUsage(() => (m as { runnerCommand(a: string[]): Promise<number> }).runnerCommand(args));
  },
});

dispatch(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`arclight: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);

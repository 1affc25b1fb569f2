#!/usr/bin/env node
// `npx arclight ...`. The CLI sits on top of everything (DESIGN.md), so it
// may load kernel/ — lazily, by path, so the library never does.
import { dispatch, registerCommand } from "./commands.js";

// Resolved at run time against this file: dist/src/cli -> dist/kernel, src/cli -> kernel.
const kernelModule = (name: string): string => new URL(`../../kernel/${name}`, import.meta.url).href;
const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

registerCommand("kernel", {
  summary: "install or uninstall the Arclight Jupyter kernelspec",
  usage: [
    "usage: arclight kernel install [--user | --prefix DIR]",
    "       arclight kernel uninstall [--user | --prefix DIR]",
    "Registers (removes) the Jupyter kernelspec `arclight`, \"Arclight (TypeScript)\".",
    "Default location: the per-user Jupyter data dir; --prefix DIR uses DIR/share/jupyter/kernels.",
  ].join("\n"),
  run: async (args) => ((await import(kernelModule(`kernel-command${ext}`))) as { kernelCommand(a: string[]): Promise<number> }).kernelCommand(args),
});

registerCommand("run", {
  summary: "execute a notebook headlessly on the Arclight kernel and write outputs / an HTML report",
  usage: [
    "usage: arclight run NOTEBOOK.ipynb [--out EXECUTED.ipynb] [--html REPORT.html] [--timeout SECONDS]",
    "Starts a private Jupyter server, runs every code cell on the arclight kernel, saves the",
    "outputs (default: overwrite nothing; --out to save) and a self-contained HTML report.",
    "--timeout is per cell (default 600). A failing cell exits 1 with the cell number and error.",
  ].join("\n"),
  run: async (args) => ((await import(kernelModule(`run-command${ext}`))) as { runCommand(a: string[]): Promise<number> }).runCommand(args),
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

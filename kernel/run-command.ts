// `arclight run NOTEBOOK.ipynb [--out executed.ipynb] [--html report.html] [--timeout S]`.
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { KernelUsageError } from "./usage-error.js";
import { runNotebook } from "./notebook-runner.js";
import { renderReport } from "./report-html.js";
import { stripAnsi } from "./traceback.js";

export async function runCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { out: { type: "string" }, html: { type: "string" }, timeout: { type: "string" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new KernelUsageError(e instanceof Error ? e.message : String(e));
  }
  const [path, ...extra] = parsed.positionals;
  if (path === undefined || extra.length) throw new KernelUsageError("expected exactly one notebook path");
  if (!path.endsWith(".ipynb")) throw new KernelUsageError(`${path}: expected an .ipynb file`);
  const timeoutS = parsed.values.timeout === undefined ? 600 : Number(parsed.values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new KernelUsageError("--timeout must be a positive number of seconds");
  // @jupyterlab/services logs every socket it opens with console.debug; keep stdout clean.
  const log = console.debug;
  console.debug = (...a: unknown[]) => {
    if (!(typeof a[0] === "string" && a[0].startsWith("Starting WebSocket"))) log(...a);
  };
  let result;
  try {
    result = await runNotebook(path, {
      timeoutS,
      onCell: (n, _out, ms) => process.stderr.write(`arclight run: cell[${n}] ok (${(ms / 1000).toFixed(1)} s)\n`),
    });
  } finally {
    console.debug = log;
  }
  const { notebook, report, failure } = result;
  if (parsed.values.out) writeFileSync(parsed.values.out, `${JSON.stringify(notebook, null, 1)}\n`);
  if (parsed.values.html) writeFileSync(parsed.values.html, renderReport(notebook, report, basename(path, ".ipynb")));
  if (failure) {
    // The traceback may carry terminal colours (for notebooks); a log gets plain text.
    const plain = stripAnsi(failure.traceback.join("\n"));
    process.stderr.write(`arclight run: ${path}: ${failure.message}\n${plain}\n`);
    return 1;
  }
  process.stderr.write(`arclight run: ${path}: all cells ran in ${(report.durationMs / 1000).toFixed(1)} s\n`);
  return 0;
}

// Tracebacks as IPython shows them: coloured (Jupyter front ends render ANSI
// colours), the failing line with a few lines of context around it, and each
// frame once.
import type { TsDiagnostic } from "./tslab.js";

const RED = "\x1b[0;31m";
const GREEN = "\x1b[0;32m";
const BOLD_RED = "\x1b[1;31m";
const CYAN = "\x1b[0;36m";
const RESET = "\x1b[0m";

export const CONTEXT_LINES = 2;

/** Source lines `line` (1-based) +- CONTEXT_LINES, numbered, the failing one marked with an arrow. */
export function sourceContext(source: string, line: number, column?: number): string[] {
  const lines = source.split("\n");
  const from = Math.max(1, line - CONTEXT_LINES);
  const to = Math.min(lines.length, line + CONTEXT_LINES);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    const text = lines[n - 1] ?? "";
    if (n === line) {
      out.push(`${GREEN}----> ${String(n).padStart(width)}${RESET} ${text}`);
      if (column !== undefined) out.push(`${" ".repeat(7 + width + column)}${RED}^${RESET}`);
    } else out.push(`      ${String(n).padStart(width)} ${text}`);
  }
  return out;
}

/** The error's headline: name in red, then the message. */
export function headline(name: string, message: string): string {
  return `${BOLD_RED}${name}${RESET}: ${message}`;
}

/** A frame line with its cell location in green (the text stays greppable: `at f (cell[2]:3)`). */
export function colourFrame(frame: string): string {
  return frame.replace(/cell\[[^\]]+\]:\d+(?::\d+)?/g, (m) => `${GREEN}${m}${RESET}`);
}

/** Where a block of context comes from: `cell[2], line 3` in cyan. */
export function location(file: string, line: number): string {
  return `${CYAN}${file}${RESET}, line ${line}:`;
}

/** Drops a frame that repeats the one just before it (an async cell shows up twice at the same line). */
export function dedupeFrames(lines: string[]): string[] {
  return lines.filter((l, i) => i === 0 || l !== lines[i - 1]);
}

export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** TypeScript's diagnostics for a cell: `cell[3]:2:7 - error TS2322: ...`, each with its line in context. */
export function diagnosticLines(diags: TsDiagnostic[], code: string, label: string): string[] {
  const out: string[] = [];
  for (const d of diags) {
    const where = `${d.fileName ?? `cell[${label}]`}:${d.start.line + 1}:${d.start.character + 1}`;
    if (out.length > 0) out.push("");
    out.push(`${colourFrame(where)} - ${headline(`error TS${d.code}`, d.messageText)}`);
    if (d.fileName === undefined) out.push(...sourceContext(code, d.start.line + 1, d.start.character));
  }
  return out;
}

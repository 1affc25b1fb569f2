// The cells' type checker, on tslab's converter: it checks each cell against
// the declarations of the cells before it, keeps those declarations, and
// answers completion and quick info with the same knowledge. It runs in a
// worker thread of its own (checker-worker.ts), so a cell's result never
// waits for its type check.
import { join } from "node:path";
import { enclosingCall } from "./call-site.js";
import { CELL_GLOBALS, CELL_GLOBALS_MODULE } from "./cell-globals.js";
import { packageRoot } from "./package-root.js";
import { converterModule, printQuickInfo, tsx, type TslabConverter, type TsDiagnostic } from "./tslab.js";
import { declaredValues } from "./transpile.js";

/**
 * Redirects `<root>/node_modules/arclight/...` to the package root inside
 * tslab's TypeScript, so `import ... from "arclight"` and the `agl` global
 * type-check the same wherever the notebook is.
 */
function forwardSelfReference(root: string): void {
  const sys = tsx.sys as Record<string, unknown>;
  if (sys.__arclightForwarded) return;
  const prefix = join(root, "node_modules", "arclight");
  const fwd = (p: unknown): unknown =>
    typeof p === "string" && (p === prefix || p.startsWith(`${prefix}/`)) ? root + p.slice(prefix.length) : p;
  for (const name of ["readFile", "fileExists", "directoryExists", "readDirectory", "getDirectories", "realpath", "getModifiedTime"]) {
    const orig = sys[name];
    if (typeof orig !== "function") continue;
    sys[name] = (p: unknown, ...rest: unknown[]) => (orig as (...a: unknown[]) => unknown).call(sys, fwd(p), ...rest);
  }
  // TypeScript 5.0's node10 resolution ignores `exports`; ESM-only packages (vega, vega-lite) declare
  // their types only there. Surface them as a top-level "types" field.
  const readFile = sys.readFile as (p: string, enc?: string) => string | undefined;
  sys.readFile = (p: string, enc?: string) => {
    const text = readFile(p, enc);
    if (text === undefined || !p.endsWith("/package.json") || !p.includes("/node_modules/")) return text;
    try {
      const pkg = JSON.parse(text) as { types?: string; typings?: string; exports?: unknown };
      if (pkg.types || pkg.typings || typeof pkg.exports !== "object" || pkg.exports === null) return text;
      const dot = (pkg.exports as Record<string, unknown>)["."];
      const find = (e: unknown): string | undefined => {
        if (typeof e !== "object" || e === null) return undefined;
        const o = e as Record<string, unknown>;
        if (typeof o.types === "string") return o.types;
        for (const k of ["import", "default", "node", "require"]) {
          const t = find(o[k]);
          if (t) return t;
        }
        return undefined;
      };
      const types = find(dot);
      return types ? JSON.stringify({ ...pkg, types }) : text;
    } catch {
      return text;
    }
  };
  // tslab's converter has one slot for TypeScript's timers; directory watchers (failed module lookups under
  // the package root, where builds keep writing) schedule a second one and it throws from a timer.
  // Cells re-resolve on every convert anyway.
  sys.watchDirectory = () => ({ close: () => {} });
  sys.__arclightForwarded = true;
}

export interface Completions {
  start: number;
  end: number;
  candidates: string[];
}

export class CellTypeChecker {
  private readonly converter: TslabConverter;
  /** The declarations of every cell checked so far (tslab's declaration output). */
  private prevDecl = "";

  /** Loads the compiler, @types/node and arclight's types: a second or more. */
  constructor() {
    const root = packageRoot();
    forwardSelfReference(root);
    // The converter resolves types from the current directory at creation: use the package's, so
    // @types/node and arclight's own types resolve wherever the notebook lives (a worker cannot chdir).
    const sys = tsx.sys as { getCurrentDirectory(): string };
    const cwd = sys.getCurrentDirectory;
    sys.getCurrentDirectory = () => root;
    try {
      this.converter = converterModule.createConverter({ isJS: false, isBrowser: false });
    } finally {
      sys.getCurrentDirectory = cwd;
    }
    const diags = this.converter.addModule(CELL_GLOBALS_MODULE, CELL_GLOBALS);
    if (diags.length > 0) throw new Error(`cell globals do not type-check: ${diags.map((d) => d.messageText).join("; ")}`);
    this.converter.convert("", "");
  }

  /**
   * Type-checks a cell that ran and keeps its declarations for the cells after it, also when it has
   * type errors (it ran: its names exist), so one mistake does not cascade into "Cannot find name".
   */
  check(code: string): TsDiagnostic[] {
    const r = this.converter.convert(this.prevDecl, code);
    if (r.diagnostics.length === 0) {
      this.prevDecl = r.declOutput ?? this.prevDecl;
      return [];
    }
    this.prevDecl = this.declarationsDespite(code, r.diagnostics) ?? this.prevDecl;
    return r.diagnostics;
  }

  /**
   * The declarations of a cell with type errors: first with `// @ts-ignore` above each failing line
   * (the declarations keep their types), else every value it declares as `any`.
   */
  private declarationsDespite(code: string, diags: TsDiagnostic[]): string | undefined {
    const lines = code.split("\n");
    const failing = new Set(diags.filter((d) => d.fileName === undefined).map((d) => d.start.line));
    const ignored = lines.flatMap((l, i) => (failing.has(i) ? ["// @ts-ignore", l] : [l])).join("\n");
    const sf = tsx.createSourceFile("cell.ts", code, tsx.ScriptTarget.ES2022, true, tsx.ScriptKind.TS);
    const names: string[] = [];
    for (const stmt of sf.statements) declaredValues(stmt, names);
    const anyDecls = [...new Set(names)].map((n) => `declare let ${n}: any;`).join("\n");
    for (const attempt of [ignored, anyDecls]) {
      try {
        const r = this.converter.convert(this.prevDecl, attempt);
        if (r.diagnostics.length === 0) return r.declOutput;
      } catch {
        // try the next, plainer form
      }
    }
    return undefined;
  }

  complete(code: string, cursor: number): Completions {
    const info = this.converter.complete(this.prevDecl, code, cursor);
    return { start: info.start, end: info.end, candidates: info.candidates };
  }

  /** Quick info at the cursor; inside a call's parentheses, the callee's signature and its argument's fields. */
  inspect(code: string, cursor: number): string | undefined {
    // On a name (`Math.max|`), that name; after `(`, `,` or a space inside a call, the call.
    const onName = cursor > 0 && /[\w$]/.test(code[cursor - 1] ?? "");
    const call = enclosingCall(code, cursor);
    if (onName || call === undefined) {
      const info = this.converter.inspect(this.prevDecl, code, onName ? cursor - 1 : cursor);
      if (info || call === undefined) return info ? printQuickInfo(info) : undefined;
    }
    const info = this.converter.inspect(this.prevDecl, code, call.calleePos);
    if (!info) return undefined;
    const fields = this.argumentFields(code, call.callee, call.argIndex);
    return printQuickInfo(info) + (fields.length ? `\n\nArgument ${call.argIndex + 1} fields:\n${fields.join("\n")}` : "");
  }

  /** `name?: type` and the doc of each field of an object-typed argument (an options bag), at most a dozen. */
  private argumentFields(code: string, callee: string, argIndex: number): string[] {
    // Earlier lines declare what the callee may refer to; the probe names the argument's type.
    const lineStart = code.lastIndexOf("\n", code.indexOf(callee)) + 1;
    const probe = `${code.slice(0, lineStart)}\n;declare const __arclight_arg: NonNullable<Parameters<typeof ${callee}>[${argIndex}]>;\n__arclight_arg.`;
    let names: string[];
    try {
      names = this.converter.complete(this.prevDecl, probe, probe.length).candidates.slice(0, 12);
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const name of names) {
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) continue;
      const src = `${probe}${name}`;
      const info = this.converter.inspect(this.prevDecl, src, src.length - 1);
      if (!info) continue;
      const text = printQuickInfo(info).replace(/^\(property\) /, "");
      out.push(`  ${text.replace(/\n+/g, "\n      ")}`);
    }
    return out;
  }

  close(): void {
    this.converter.close();
  }
}

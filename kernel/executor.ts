// Runs cells: tslab's converter type-checks and transpiles them; this file
// resolves imports (CommonJS, ESM-only packages, `arclight` itself), runs the
// code in this process with top-level await, makes awaits interruptible and
// turns errors into readable TypeScript stacks.
import { createRequire, builtinModules } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import { enclosingCall } from "./call-site.js";
import { CELL_GLOBALS, CELL_GLOBALS_MODULE } from "./cell-globals.js";
import { alignLines } from "./line-map.js";
import { colourFrame, dedupeFrames, headline, location, sourceContext } from "./traceback.js";
import { libraryEntry, packageRoot } from "./package-root.js";
import { converterModule, printQuickInfo, tsx, type ConvertResult, type TslabConverter, type TsDiagnostic } from "./tslab.js";

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

export type CellOutcome = { status: "ok"; value?: unknown; hasValue: boolean } | ({ status: "error" } & CellError);

export class InterruptedError extends Error {
  override readonly name = "KeyboardInterrupt";
  constructor() {
    super("cell interrupted");
  }
}

interface CellSource {
  ts: string;
  jsToTs: number[];
}

const CELL_GLOBAL = "__arclight_cell__";
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function isEsmFile(file: string): boolean {
  if (file.endsWith(".mjs")) return true;
  if (!file.endsWith(".js")) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        return (JSON.parse(readFileSync(pj, "utf8")) as { type?: string }).type === "module";
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

/** An ES module namespace as TypeScript's CommonJS interop helpers expect it. */
function interopNamespace(ns: Record<string, unknown>): Record<string, unknown> {
  return Object.freeze({ ...ns, __esModule: true });
}

/**
 * Redirects `<root>/node_modules/arclight/...` to the package root inside
 * tslab's TypeScript, so `import ... from "arclight"` and the `agl` global
 * type-check the same wherever the notebook is.
 */
function forwardSelfReference(root: string): void {
  const sys = tsx.sys as Record<string, unknown>;
  if (sys.__arclightForwarded) return;
  const prefix = join(root, "node_modules", "arclight");
  const fwd = (p: unknown): unknown => (typeof p === "string" && (p === prefix || p.startsWith(prefix + "/")) ? root + p.slice(prefix.length) : p);
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

/**
 * What a researcher types first comes first: functions and values (camelCase), then classes and
 * types, then zod schemas, then CONSTANTS. TypeScript's own order (relevance, then ASCII, which puts
 * capitals first) is kept within each group.
 */
export function rankCompletions(names: string[]): string[] {
  const rank = (n: string): number => {
    if (/^[A-Z0-9_]+$/.test(n) && /[A-Z]/.test(n) && n.length > 1) return 3;
    if (/Schema$/.test(n)) return 2;
    if (/^[A-Z]/.test(n)) return 1;
    return 0;
  };
  return names.map((n, i) => [rank(n), i, n] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
}

export class Executor {
  private converter!: TslabConverter;
  private prevDecl = "";
  private readonly exportsTarget: Record<string, unknown> = {};
  private readonly cellExports: Record<string, unknown>;
  private readonly sources = new Map<string, CellSource>();
  private readonly esmCache = new Map<string, Record<string, unknown>>();
  private agl: Record<string, unknown> = {};
  private aglInterop: Record<string, unknown> = {};
  private interrupted = false;
  private rejectInterrupt: (e: Error) => void = () => {};
  private interruptPromise!: Promise<never>;
  private readonly notebookRequire: NodeJS.Require;
  private readonly rootRequire: NodeJS.Require;
  private running = false;

  private seq = -1;

  /** `interruptFlag[0]` holds the sequence number of the cell to stop (the socket worker sets it). */
  constructor(
    readonly notebookDir: string = process.cwd(),
    private readonly interruptFlag: Int32Array = new Int32Array(new SharedArrayBuffer(4)),
  ) {
    const target = this.exportsTarget;
    // TypeScript's CommonJS output defines named imports with defineProperty; cells must be able to rebind them.
    this.cellExports = new Proxy(target, {
      defineProperty: (_t, prop, attrs) => {
        if (prop === "__esModule") return true;
        target[prop as string] = attrs.get ? attrs.get() : attrs.value;
        return true;
      },
    });
    this.notebookRequire = createRequire(join(notebookDir, "__cell__.js"));
    this.rootRequire = createRequire(join(packageRoot(), "__cell__.js"));
    this.resetInterrupt();
  }

  /** Loads the library and warms the converter (its first program load takes most of a second). */
  async init(): Promise<void> {
    const root = packageRoot();
    forwardSelfReference(root);
    // The converter resolves types from the process's directory at creation: use the package's, so
    // @types/node and arclight's own types resolve wherever the notebook lives.
    const cwd = process.cwd();
    process.chdir(root);
    try {
      this.converter = converterModule.createConverter({ isJS: false, isBrowser: false });
    } finally {
      process.chdir(cwd);
    }
    this.agl = (await import(pathToFileURL(libraryEntry()).href)) as Record<string, unknown>;
    this.aglInterop = interopNamespace(this.agl);
    (globalThis as Record<string, unknown>).agl = this.agl;
    this.exportsTarget.agl = this.agl;
    (globalThis as Record<string, unknown>)[CELL_GLOBAL] = {
      exports: this.cellExports,
      require: (id: string) => this.require(id),
      ck: <T>(v: T): T => {
        if (this.interrupted || Atomics.load(this.interruptFlag, 0) === this.seq) throw new InterruptedError();
        return v;
      },
    };
    const diags = this.converter.addModule(CELL_GLOBALS_MODULE, CELL_GLOBALS);
    if (diags.length > 0) throw new Error(`cell globals do not type-check: ${diags.map((d) => d.messageText).join("; ")}`);
    this.converter.convert("", "");
  }

  get library(): Record<string, unknown> {
    return this.agl;
  }

  private resetInterrupt(): void {
    this.interruptPromise = new Promise<never>((_, reject) => {
      this.rejectInterrupt = reject;
    });
    this.interruptPromise.catch(() => {});
  }

  /** Stops the running cell: the sync part through vm's breakOnSigint, async parts at their next await. */
  interrupt(): void {
    if (!this.running) return;
    this.interrupted = true;
    this.rejectInterrupt(new InterruptedError());
  }

  private require(id: string): unknown {
    if (id === "arclight") return this.aglInterop;
    const cached = this.esmCache.get(id);
    if (cached) return cached;
    if (BUILTINS.has(id)) return this.rootRequire(id);
    try {
      return this.notebookRequire(id);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
      return this.rootRequire(id);
    }
  }

  private resolveFile(id: string): string | undefined {
    for (const req of [this.notebookRequire, this.rootRequire]) {
      try {
        return req.resolve(id);
      } catch {
        // try the next base
      }
    }
    return undefined;
  }

  /** ES modules cannot be required synchronously from a cell (and some use top-level await): import them before the cell runs. */
  private async preloadImports(js: string): Promise<void> {
    const ids = new Set<string>();
    for (const m of js.matchAll(/\brequire\("((?:[^"\\]|\\.)+)"\)/g)) ids.add(m[1]!);
    for (const id of ids) {
      if (id === "arclight" || BUILTINS.has(id) || this.esmCache.has(id)) continue;
      const file = this.resolveFile(id);
      if (file !== undefined && !isEsmFile(file)) continue;
      // Unresolvable with require conditions (an exports map with only "import") or an ES module file.
      const target = file !== undefined ? pathToFileURL(file).href : id;
      let ns: Record<string, unknown>;
      try {
        ns = (await import(target)) as Record<string, unknown>;
      } catch (e) {
        if (file === undefined && (e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") {
          throw new Error(`Cannot find module '${id}' from ${this.notebookDir} or ${packageRoot()}`);
        }
        throw e;
      }
      this.esmCache.set(id, interopNamespace(ns));
    }
  }

  /**
   * Wraps every `await x` as `__ck(await x)` and starts every loop body with `__ck()`, so a cell stops at
   * its next await or loop turn after an interrupt, however long it has been busy.
   */
  private guardAwaits(js: string): string {
    const sf = tsx.createSourceFile("cell.js", js, tsx.ScriptTarget.Latest, true, tsx.ScriptKind.JS);
    const edits: Array<[number, string]> = [];
    const K = tsx.SyntaxKind;
    const loops = new Set([K.ForStatement, K.ForOfStatement, K.ForInStatement, K.WhileStatement, K.DoStatement]);
    type Node = { kind: number; getStart(): number; end: number; statement?: Node; statements?: unknown };
    const visit = (node: Node): void => {
      if (node.kind === K.AwaitExpression) {
        edits.push([node.getStart(), "__ck("], [node.end, ")"]);
      } else if (loops.has(node.kind) && node.statement) {
        const body = node.statement;
        if (body.kind === K.Block) edits.push([body.getStart() + 1, " __ck();"]);
        else edits.push([body.getStart(), "{ __ck(); "], [body.end, " }"]);
      }
      tsx.forEachChild(node, visit);
    };
    tsx.forEachChild(sf, visit);
    edits.sort((a, b) => b[0] - a[0]);
    let out = js;
    for (const [pos, text] of edits) out = out.slice(0, pos) + text + out.slice(pos);
    return out;
  }

  async execute(code: string, label: string, seq = -1): Promise<CellOutcome> {
    this.seq = seq;
    this.interrupted = false;
    this.resetInterrupt();
    this.running = true;
    try {
      return await this.executeInner(code, label);
    } finally {
      this.running = false;
    }
  }

  private async executeInner(code: string, label: string): Promise<CellOutcome> {
    let converted: ConvertResult;
    try {
      converted = this.converter.convert(this.prevDecl, code);
    } catch (e) {
      return this.errorOutcome(e);
    }
    if (converted.diagnostics.length > 0) return this.diagnosticsOutcome(converted.diagnostics, code, label);
    if (!converted.output) {
      this.prevDecl = converted.declOutput ?? "";
      return { status: "ok", hasValue: false };
    }
    const filename = `cell[${label}]`;
    const js = this.guardAwaits(converted.output);
    this.sources.set(filename, { ts: code, jsToTs: alignLines(js, code) });
    const wrapped = `(async function (exports, require, __ck) { ${js}\n})(${CELL_GLOBAL}.exports, ${CELL_GLOBAL}.require, ${CELL_GLOBAL}.ck)`;
    // Declarations survive a failure or an interrupt, as in Python: what ran before it keeps its values.
    let ran = false;
    const keepDecls = () => {
      if (ran) this.prevDecl = converted.declOutput ?? this.prevDecl;
    };
    try {
      await this.preloadImports(js);
      if (Atomics.load(this.interruptFlag, 0) === this.seq) throw new InterruptedError();
      ran = true;
      const promise = vm.runInThisContext(wrapped, { filename, breakOnSigint: true }) as Promise<unknown>;
      await Promise.race([
        promise,
        // After an interrupt, give the cell a moment to reach its next await and stop by itself.
        this.interruptPromise.catch((e: unknown) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(e), 1000))])),
      ]);
      if (this.interrupted) throw new InterruptedError();
    } catch (e) {
      keepDecls();
      return this.errorOutcome(e);
    }
    keepDecls();
    const name = converted.lastExpressionVar;
    if (name !== undefined && name in this.exportsTarget) {
      const value = this.exportsTarget[name];
      delete this.exportsTarget[name];
      return value === undefined ? { status: "ok", hasValue: false } : { status: "ok", value, hasValue: true };
    }
    return { status: "ok", hasValue: false };
  }

  private diagnosticsOutcome(diags: TsDiagnostic[], code: string, label: string): CellOutcome {
    const traceback: string[] = [];
    for (const d of diags) {
      const where = `${d.fileName ?? `cell[${label}]`}:${d.start.line + 1}:${d.start.character + 1}`;
      if (traceback.length > 0) traceback.push("");
      traceback.push(`${colourFrame(where)} - ${headline(`error TS${d.code}`, d.messageText)}`);
      if (d.fileName === undefined) traceback.push(...sourceContext(code, d.start.line + 1, d.start.character));
    }
    const first = diags[0]!;
    return { status: "error", ename: "TSError", evalue: `${first.messageText} (line ${first.start.line + 1})`, traceback };
  }

  /** Rewrites `cell[N]:jsLine:col` in a stack to the TypeScript line, and drops the kernel's own frames. */
  mapStack(stack: string): string[] {
    const out: string[] = [];
    for (const line of stack.split("\n")) {
      if (/^\s+at /.test(line)) {
        // Node's own frames, the kernel's, and the wrapper that calls the cell are noise to a reader.
        if (/\(node:|at node:|\/kernel\/executor\.[jt]s|\/kernel\/server\.[jt]s|\(<anonymous>\)|^\s+at new Promise/.test(line)) continue;
        if (/^\s+at cell\[[^\]]+\]:1:1$/.test(line)) continue;
        out.push(
          line.replace(/(cell\[[^\]]+\]):(\d+):(\d+)/g, (m, file: string, l: string) => {
            const src = this.sources.get(file);
            if (!src) return m;
            const tsLine = (src.jsToTs[Number(l) - 1] ?? 0) + 1;
            return `${file}:${tsLine}`;
          }),
        );
      } else out.push(line);
    }
    return out;
  }

  private errorOutcome(e: unknown): CellOutcome {
    if (e instanceof Error) {
      const interrupted = e instanceof InterruptedError || (e as NodeJS.ErrnoException).code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";
      if (interrupted) return { status: "error", ename: "KeyboardInterrupt", evalue: "cell interrupted", traceback: [headline("KeyboardInterrupt", "cell interrupted")] };
      const stack = dedupeFrames(this.mapStack(e.stack ?? `${e.name}: ${e.message}`));
      const frames = stack.filter((l) => /^\s+at /.test(l));
      const traceback = [headline(e.name || "Error", e.message), ...frames.map(colourFrame)];
      // The innermost cell frame, with the lines around it.
      const m = frames.map((l) => l.match(/(cell\[[^\]]+\]):(\d+)/)).find((x) => x !== null);
      const src = m ? this.sources.get(m[1]!)?.ts : undefined;
      if (m && src !== undefined) traceback.push("", location(m[1]!, Number(m[2])), ...sourceContext(src, Number(m[2])));
      return { status: "error", ename: e.name || "Error", evalue: e.message, traceback };
    }
    return { status: "error", ename: "Thrown", evalue: String(e), traceback: [headline("Uncaught", String(e))] };
  }

  complete(code: string, cursor: number): { start: number; end: number; matches: string[] } {
    const info = this.converter.complete(this.prevDecl, code, cursor);
    return { start: info.start, end: info.end, matches: rankCompletions(info.candidates) };
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

  isComplete(code: string): { status: "complete" | "incomplete"; indent?: string } {
    const r = converterModule.isCompleteCode(code);
    return r.completed ? { status: "complete" } : { status: "incomplete", indent: r.indent ?? "" };
  }

  close(): void {
    this.converter?.close();
  }
}

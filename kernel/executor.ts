// Runs cells. A cell is transpiled on its own (transpile.ts: types stripped,
// no type check) and run in this process with top-level await; imports are
// resolved here (CommonJS, ESM-only packages, `arclight` itself), awaits and
// loops are made interruptible, and errors become readable TypeScript stacks.
//
// Type checking is off the result's path: a cell that is about to run is sent
// to the type-check worker (checker-worker.ts) and runs at once. TypeScript's
// own stance is that type errors do not stop code from running (it emits
// despite them), and Python, which researchers come from, runs cells without a
// check: so a type error never fails a cell or stops a "Run all". It is
// reported as a warning (stderr, `error TS2322` with the line in context) in
// that cell's output when the check is done by the time the cell ends (the
// check starts with the cell, so any cell that runs longer than its check gets
// it), otherwise at the top of the next cell's output, naming the cell it is
// about: Jupyter front ends drop output sent after a cell's reply. Syntax
// errors still fail the cell before it runs.
import { createRequire, builtinModules } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import { CheckerClient } from "./checker-client.js";
import { alignLines } from "./line-map.js";
import { colourFrame, dedupeFrames, diagnosticLines, headline, location, sourceContext } from "./traceback.js";
import { libraryEntry, packageRoot } from "./package-root.js";
import { CELLS_MODULE, LAST_EXPRESSION, transpileCell } from "./transpile.js";
import { converterModule, tsx, type TsDiagnostic } from "./tslab.js";

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** A cell's type check, which may still be running when the cell's outcome is known. */
export class TypeCheck {
  settled = false;
  /** The report to show (ANSI text) when the check found errors. */
  report: string | undefined;
  readonly done: Promise<string | undefined>;

  constructor(check: Promise<TsDiagnostic[]>, code: string, label: string) {
    this.done = check.then(
      (diags) => (diags.length > 0 ? `${diagnosticLines(diags, code, label).join("\n")}\n` : undefined),
      // A checker that failed must not take the kernel with it; cells still run.
      (e: unknown) => `(type check of cell[${label}] failed: ${e instanceof Error ? e.message : String(e)})\n`,
    );
    void this.done.then((r) => {
      this.report = r;
      this.settled = true;
    });
  }
}

export type CellOutcome = ({ status: "ok"; value?: unknown; hasValue: boolean } | ({ status: "error" } & CellError)) & {
  typeCheck?: TypeCheck;
};

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
  return names
    .map((n, i) => [rank(n), i, n] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map((x) => x[2]);
}

export class Executor {
  /** What the cells declared, by name: every cell's `exports`, and what later cells import. */
  private readonly cells: Record<string, unknown> = {};
  private readonly cellExports: Record<string, unknown>;
  private readonly sources = new Map<string, CellSource>();
  private readonly esmCache = new Map<string, Record<string, unknown>>();
  private readonly checker = new CheckerClient();
  private library: Promise<void> | undefined;
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
    const target = this.cells;
    // TypeScript's CommonJS output defines re-exported imports with defineProperty; cells must be able to rebind them.
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

  /**
   * Makes cells runnable. The compiler for transpiling is loaded with this module; the type checker
   * and the library load later (startBackground, or the first cell that needs them).
   */
  async init(): Promise<void> {
    (globalThis as Record<string, unknown>)[CELL_GLOBAL] = {
      exports: this.cellExports,
      require: (id: string) => this.require(id),
      ck: <T>(v: T): T => {
        if (this.interrupted || Atomics.load(this.interruptFlag, 0) === this.seq) throw new InterruptedError();
        return v;
      },
    };
  }

  /** Starts loading what cells did not need yet: the type checker (a worker thread) and `agl`. */
  startBackground(): void {
    this.checker.start();
    void this.loadLibrary().catch(() => {});
  }

  /** Loads `agl` once; cells that mention it (or `arclight`) wait for it. */
  loadLibrary(): Promise<void> {
    this.library ??= import(pathToFileURL(libraryEntry()).href).then((lib: Record<string, unknown>) => {
      this.aglInterop = interopNamespace(lib);
      (globalThis as Record<string, unknown>).agl = lib;
      this.cells.agl = lib;
    });
    return this.library;
  }

  private resetInterrupt(): void {
    this.interruptPromise = new Promise<never>((_, reject) => {
      this.rejectInterrupt = reject;
    });
    this.interruptPromise.catch(() => {});
  }

  /** Stops the running cell at its next check (guardAwaits); a cell waiting on a promise stops at once. */
  interrupt(): void {
    if (!this.running) return;
    this.interrupted = true;
    this.rejectInterrupt(new InterruptedError());
  }

  private require(id: string): unknown {
    if (id === CELLS_MODULE) return this.cells;
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
      if (id === "arclight" || id === CELLS_MODULE || BUILTINS.has(id) || this.esmCache.has(id)) continue;
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
   * Wraps every `await x` as `__ck(await x)` and starts every loop body and function body with `__ck()`,
   * so a cell stops at its next await, loop turn or call after an interrupt, however long it has been
   * busy (recursion included). These checks are the kernel's one interrupt mechanism: they read a flag
   * the socket worker sets, so no per-cell watchdog is needed. Code outside the cells (a library's own
   * loop) is not stopped until it returns to the cell.
   */
  private guardAwaits(js: string): string {
    // No loop, await or body anywhere: nothing to guard, so no parse.
    if (!/[{]|=>|\b(?:await|for|while|do)\b/.test(js)) return js;
    const sf = tsx.createSourceFile("cell.js", js, tsx.ScriptTarget.Latest, true, tsx.ScriptKind.JS);
    // Opening texts of nested nodes can share a position (`for (;;) await x`): outer ones go first, and
    // closing texts that share one go inner first.
    const edits: Array<{ pos: number; text: string; depth: number; open: boolean }> = [];
    const K = tsx.SyntaxKind;
    const loops = new Set([K.ForStatement, K.ForOfStatement, K.ForInStatement, K.WhileStatement, K.DoStatement]);
    const functions = new Set([
      K.FunctionDeclaration,
      K.FunctionExpression,
      K.ArrowFunction,
      K.MethodDeclaration,
      K.Constructor,
      K.GetAccessor,
      K.SetAccessor,
    ]);
    type Node = { kind: number; getStart(): number; end: number; statement?: Node; body?: Node; statements?: Node[]; expression?: Node };
    const wrap = (node: Node, before: string, after: string, depth: number) => {
      edits.push({ pos: node.getStart(), text: before, depth, open: true }, { pos: node.end, text: after, depth, open: false });
    };
    const visit = (node: Node, depth: number): void => {
      if (node.kind === K.AwaitExpression) wrap(node, "__ck(", ")", depth);
      else if (loops.has(node.kind) && node.statement) {
        const body = node.statement;
        if (body.kind === K.Block) edits.push({ pos: body.getStart() + 1, text: " __ck();", depth, open: true });
        else wrap(body, "{ __ck(); ", " }", depth);
      } else if (functions.has(node.kind) && node.body) {
        const body = node.body;
        if (body.kind !== K.Block) wrap(body, "(__ck(), ", ")", depth);
        else {
          // After a "use strict" prologue, which must stay first to count.
          const stmts = body.statements ?? [];
          let k = 0;
          while (k < stmts.length && stmts[k]!.kind === K.ExpressionStatement && stmts[k]!.expression?.kind === K.StringLiteral) k++;
          edits.push({ pos: k > 0 ? stmts[k - 1]!.end : body.getStart() + 1, text: " __ck();", depth, open: true });
        }
      }
      tsx.forEachChild(node, (child: Node) => visit(child, depth + 1));
    };
    tsx.forEachChild(sf, (child: Node) => visit(child, 0));
    if (edits.length === 0) return js;
    edits.sort((a, b) => a.pos - b.pos || Number(a.open) - Number(b.open) || (a.open ? a.depth - b.depth : b.depth - a.depth));
    let out = "";
    let at = 0;
    for (const e of edits) {
      out += js.slice(at, e.pos) + e.text;
      at = e.pos;
    }
    return out + js.slice(at);
  }

  async execute(code: string, label: string, seq = -1): Promise<CellOutcome> {
    this.seq = seq;
    this.interrupted = false;
    this.resetInterrupt();
    this.running = true;
    this.checker.cellRunning(true);
    try {
      return await this.executeInner(code, label);
    } finally {
      this.running = false;
      this.checker.cellRunning(false);
    }
  }

  private async executeInner(code: string, label: string): Promise<CellOutcome> {
    // The library loads on first use: a cell that never names it does not wait for it.
    if (code.includes("agl") || code.includes("arclight")) {
      try {
        await this.loadLibrary();
      } catch (e) {
        return this.errorOutcome(e);
      }
    }
    const t = transpileCell(code, Object.keys(this.cells));
    if (!t.ok) {
      const first = t.diagnostics[0]!;
      return {
        status: "error",
        ename: "TSError",
        evalue: `${first.messageText} (line ${first.start.line + 1})`,
        traceback: diagnosticLines(t.diagnostics, code, label),
      };
    }
    // Only declarations of types: nothing to run, but later cells' checks need them.
    if (t.cell.js === "") return { status: "ok", hasValue: false, typeCheck: this.typeCheck(code, label) };
    const filename = `cell[${label}]`;
    const js = this.guardAwaits(t.cell.js);
    this.sources.set(filename, { ts: code, jsToTs: alignLines(js, code) });
    const wrapped = `(async function (exports, require, __ck) { ${js}\n})(${CELL_GLOBAL}.exports, ${CELL_GLOBAL}.require, ${CELL_GLOBAL}.ck)`;
    // Declarations survive a failure or an interrupt, as in Python: what ran before it keeps its values.
    let typeCheck: TypeCheck | undefined;
    let value: unknown;
    try {
      await this.preloadImports(js);
      if (Atomics.load(this.interruptFlag, 0) === this.seq) throw new InterruptedError();
      typeCheck = this.typeCheck(code, label);
      const promise = vm.runInThisContext(wrapped, { filename }) as Promise<unknown>;
      await Promise.race([
        promise,
        // After an interrupt, give the cell a moment to reach its next await and stop by itself.
        this.interruptPromise.catch((e: unknown) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(e), 1000))])),
      ]);
      if (this.interrupted) throw new InterruptedError();
    } catch (e) {
      return { ...this.errorOutcome(e), typeCheck };
    } finally {
      // Not a name later cells can use.
      value = this.cells[LAST_EXPRESSION];
      delete this.cells[LAST_EXPRESSION];
    }
    if (t.cell.hasLastExpression && value !== undefined) return { status: "ok", value, hasValue: true, typeCheck };
    return { status: "ok", hasValue: false, typeCheck };
  }

  /** Sends a cell that runs to the type checker: its declarations count for the cells after it. */
  private typeCheck(code: string, label: string): TypeCheck {
    return new TypeCheck(this.checker.check(code), code, label);
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
      if (e instanceof InterruptedError)
        return {
          status: "error",
          ename: "KeyboardInterrupt",
          evalue: "cell interrupted",
          traceback: [headline("KeyboardInterrupt", "cell interrupted")],
        };
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

  /** Type-aware completion from the checker, which knows every cell checked before this request. */
  async complete(code: string, cursor: number): Promise<{ start: number; end: number; matches: string[] }> {
    const info = await this.checker.complete(code, cursor);
    return { start: info.start, end: info.end, matches: rankCompletions(info.candidates) };
  }

  /** Quick info at the cursor; inside a call's parentheses, the callee's signature and its argument's fields. */
  inspect(code: string, cursor: number): Promise<string | undefined> {
    return this.checker.inspect(code, cursor);
  }

  isComplete(code: string): { status: "complete" | "incomplete"; indent?: string } {
    const r = converterModule.isCompleteCode(code);
    return r.completed ? { status: "complete" } : { status: "incomplete", indent: r.indent ?? "" };
  }

  close(): void {
    this.checker.close();
  }
}

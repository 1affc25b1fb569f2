// Turns a cell's TypeScript into the CommonJS the executor runs, without a
// type check (that runs in the checker worker, off the result's path): types
// are stripped by TypeScript's emitter on a one-file program with no libraries,
// which takes a few milliseconds.
//
// How cells share names: a cell's top-level declarations become exports of one
// object that lives as long as the kernel; a later cell that mentions one of
// those names imports it from that object (`import { x } from CELLS_MODULE`).
// TypeScript's CommonJS transform then rewrites every use of `x` that is not
// shadowed to `cells_1.x`, including assignments (`x = 2`, `x++`, `({ x } = o)`),
// so reads and writes go to the shared object, and inner scopes are respected
// without a scope analysis of our own.
import { tsx, type TsDiagnostic } from "./tslab.js";

/** The module specifier cells import earlier cells' names from (the executor's require answers it). */
export const CELLS_MODULE = "__arclight_cells__";
/** The export a cell's last expression is stored in. */
export const LAST_EXPRESSION = "__arclight_last__";

export interface TranspiledCell {
  /** CommonJS to run with `exports` and `require` in scope; empty when the cell has no runtime code. */
  js: string;
  /** The cell ends in an expression whose value is `exports[LAST_EXPRESSION]`. */
  hasLastExpression: boolean;
  /** Value names the cell declares at its top level. */
  declared: string[];
}

export type TranspileResult = { ok: true; cell: TranspiledCell } | { ok: false; diagnostics: TsDiagnostic[] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any;

const K = tsx.SyntaxKind;
const FILE = "cell.ts";

// One-file programs: no libraries, no module resolution, each file transpiled on its own (isolatedModules).
const OPTIONS = {
  module: tsx.ModuleKind.CommonJS,
  target: tsx.ScriptTarget.ES2022,
  esModuleInterop: true,
  // Cells run as sloppy scripts, as they did under tslab.
  noImplicitUseStrict: true,
  ignoreDeprecations: "5.0",
  experimentalDecorators: true,
  preserveConstEnums: true,
  isolatedModules: true,
  noLib: true,
  noResolve: true,
  types: [],
  newLine: tsx.NewLineKind.LineFeed,
  suppressOutputPathCheck: true,
  allowNonTsExtensions: true,
};

// The emitter asks TypeScript's checker which imports carry values (so `import { T }` of a type leaves no
// require behind), and to answer it type-checks the whole cell first: most of the cost of a transpile.
// A cell with no import or export of its own needs no such answers (the only import is ours, of names
// that are values), so its file is marked for skipping (skipDefaultLibCheck skips a file marked
// no-default-lib) and the emitter keeps every import instead of asking.
const UNCHECKED = { ...OPTIONS, skipDefaultLibCheck: true, preserveValueImports: true };

// The global types every checker looks up as it starts (with noLib it reports each one missing, and
// looking for a library to suggest costs more than the transpile): declared empty, parsed once.
const LIB = "lib.d.ts";
const libFile = tsx.createSourceFile(
  LIB,
  '/// <reference no-default-lib="true"/>\ninterface Array<T> {} interface Boolean {} interface Function {} interface IArguments {} interface Number {} interface Object {} interface RegExp {} interface String {}',
  tsx.ScriptTarget.ES2022,
  false,
  tsx.ScriptKind.TS,
);

/** Syntax TypeScript's emitter rewrites at this target: types, JSX, decorators, features newer than ES2022. */
const REWRITTEN =
  tsx.TransformFlags.ContainsTypeScript |
  tsx.TransformFlags.ContainsJsx |
  tsx.TransformFlags.ContainsESNext |
  tsx.TransformFlags.ContainsDecorators;

function hasModifier(node: Node, kind: number): boolean {
  return (node.modifiers ?? []).some((m: Node) => m.kind === kind);
}

function bindingNames(name: Node, out: string[]): void {
  if (name.kind === K.Identifier) out.push(name.text);
  else if (name.kind === K.ObjectBindingPattern || name.kind === K.ArrayBindingPattern) {
    for (const el of name.elements) if (el.kind === K.BindingElement) bindingNames(el.name, out);
  }
}

/** Names a top-level statement declares as values (what later cells can use at run time). */
export function declaredValues(stmt: Node, out: string[]): void {
  if (hasModifier(stmt, K.DeclareKeyword)) return;
  switch (stmt.kind) {
    case K.VariableStatement:
      for (const d of stmt.declarationList.declarations) bindingNames(d.name, out);
      return;
    case K.FunctionDeclaration:
    case K.ClassDeclaration:
    case K.EnumDeclaration:
      if (stmt.name && (stmt.kind !== K.FunctionDeclaration || stmt.body)) out.push(stmt.name.text);
      return;
    case K.ModuleDeclaration:
      // A namespace with only types in it has no value to export.
      if (stmt.name.kind === K.Identifier && tsx.getModuleInstanceState(stmt) === tsx.ModuleInstanceState.Instantiated)
        out.push(stmt.name.text);
      return;
    case K.ImportEqualsDeclaration:
      if (!stmt.isTypeOnly) out.push(stmt.name.text);
      return;
    case K.ImportDeclaration: {
      const clause = stmt.importClause;
      if (!clause || clause.isTypeOnly) return;
      if (clause.name) out.push(clause.name.text);
      const nb = clause.namedBindings;
      if (nb?.kind === K.NamespaceImport) out.push(nb.name.text);
      else if (nb?.kind === K.NamedImports) for (const el of nb.elements) if (!el.isTypeOnly) out.push(el.name.text);
      return;
    }
  }
}

function toDiagnostics(sf: Node, diags: Node[]): TsDiagnostic[] {
  return diags.map((d) => {
    const at = (offset: number) => ({ offset, ...sf.getLineAndCharacterOfPosition(offset) }) as TsDiagnostic["start"];
    return {
      start: at(d.start),
      end: at(d.start + d.length),
      messageText: tsx.flattenDiagnosticMessageText(d.messageText, "\n"),
      category: d.category,
      code: d.code,
    };
  });
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** `default` (from `export default`) and other reserved words cannot be imported by name. */
function importable(name: string): boolean {
  const token = tsx.stringToToken(name) as number | undefined;
  return IDENTIFIER.test(name) && (token === undefined || token > K.LastReservedWord);
}

/**
 * `previous`: the names earlier cells declared (the keys of the shared object). Those the cell
 * mentions and does not declare itself are imported; the rest stay out of the program.
 */
export function transpileCell(code: string, previous: Iterable<string>): TranspileResult {
  const sf = tsx.createSourceFile(FILE, code, tsx.ScriptTarget.ES2022, true, tsx.ScriptKind.TS);
  if (sf.parseDiagnostics.length > 0) return { ok: false, diagnostics: toDiagnostics(sf, sf.parseDiagnostics) };
  const declared: string[] = [];
  for (const stmt of sf.statements) declaredValues(stmt, declared);
  const own = new Set(declared);
  const mentioned: ReadonlyMap<string, unknown> = sf.identifiers;
  const imports: string[] = [];
  for (const name of previous) {
    if (mentioned.has(name) && !own.has(name) && importable(name)) imports.push(name);
  }
  const last = sf.statements[sf.statements.length - 1];
  const hasLastExpression = last?.kind === K.ExpressionStatement;
  const ownModuleSyntax =
    sf.externalModuleIndicator !== undefined || sf.statements.some((st: Node) => st.kind === K.ImportEqualsDeclaration);
  // Plain JavaScript that declares and imports nothing runs as written: nothing for the emitter to do
  // but store the last expression, so no program is built (a quick cell's main cost).
  if (declared.length === 0 && imports.length === 0 && !ownModuleSyntax && (sf.transformFlags & REWRITTEN) === 0) {
    return {
      ok: true,
      cell: { js: withLastExpression(sf, code, hasLastExpression, `exports.${LAST_EXPRESSION} =`), hasLastExpression, declared },
    };
  }
  const body = withLastExpression(sf, code, hasLastExpression, `export const ${LAST_EXPRESSION} =`);
  // On the first line, so the cell's lines keep their numbers.
  const prefix = imports.length > 0 ? `import { ${imports.join(", ")} } from "${CELLS_MODULE}"; ` : "";
  const suffix = declared.length > 0 ? `\nexport { ${[...own].join(", ")} };` : "";
  const checked = ownModuleSyntax || (sf.transformFlags & tsx.TransformFlags.ContainsDecorators) !== 0;
  return { ok: true, cell: { js: emit(prefix + body + suffix, checked), hasLastExpression, declared } };
}

/** The cell with its last expression stored: `store` is what goes before it (`exports.x =` or `export const x =`). */
function withLastExpression(sf: Node, code: string, hasLastExpression: boolean, store: string): string {
  if (!hasLastExpression) return code;
  const last = sf.statements[sf.statements.length - 1];
  const start = last.expression.getStart(sf);
  return `${code.slice(0, start)}${store} (${code.slice(start, last.expression.end)});${code.slice(last.end)}`;
}

/**
 * `checked`: the cell has imports or exports of its own (which the emitter elides by what the checker
 * finds) or decorators (whose emit reads flags the check sets); every other cell skips the check.
 */
function emit(source: string, checked: boolean): string {
  const sf = tsx.createSourceFile(FILE, source, tsx.ScriptTarget.ES2022, false, tsx.ScriptKind.TS);
  if (!checked) sf.hasNoDefaultLib = true;
  let js = "";
  const host = {
    getSourceFile: (name: string) => (name === FILE ? sf : name === LIB ? libFile : undefined),
    writeFile: (name: string, text: string) => {
      if (name.endsWith(".js")) js = text;
    },
    getDefaultLibFileName: () => "lib.d.ts",
    useCaseSensitiveFileNames: () => true,
    getCanonicalFileName: (name: string) => name,
    getCurrentDirectory: () => "",
    getNewLine: () => "\n",
    fileExists: (name: string) => name === FILE,
    readFile: () => "",
    directoryExists: () => true,
    getDirectories: () => [],
  };
  tsx.createProgram([LIB, FILE], checked ? OPTIONS : UNCHECKED, host).emit(sf);
  // Only the module marker: a cell with nothing to run.
  return /^Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);\s*$/.test(js) ? "" : js;
}

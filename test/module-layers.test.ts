// Which folder may import which (DESIGN.md's layers): data layers never import
// display layers, the library never imports the kernel or the CLI, the kernel
// never imports the CLI, and no module inside src/ goes through the public barrel.
// Scans every static and dynamic import with a string specifier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** [importing file, imported file] for every relative import, both as repo paths. */
function importEdges(files: string[]): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith(".")) continue;
      edges.push([file, relative(root, resolve(root, dirname(file), fileName)).replace(/\.js$/, ".ts")]);
    }
  }
  return edges;
}

const folder = (path: string): string =>
  path
    .split("/")
    .slice(0, path.startsWith("src/") ? 2 : 1)
    .join("/");

const DATA = [
  "src/types",
  "src/store",
  "src/frame",
  "src/adapter",
  "src/tracer",
  "src/server",
  "src/llm",
  "src/native",
  "src/tokenizer",
  "src/runner",
];
const DISPLAY = ["src/display", "src/viz"];

const edges = importEdges([...tsFiles("src"), ...tsFiles("kernel")]);

function violations(from: (f: string) => boolean, to: (f: string) => boolean): string[] {
  return edges.filter(([a, b]) => from(a) && to(b)).map(([a, b]) => `${a} -> ${b}`);
}

test("the scan sees the imports it judges (a known edge of each kind is found)", () => {
  assert.ok(edges.length > 200, `only ${edges.length} imports found`);
  assert.ok(
    edges.some(([a, b]) => a === "src/frame/index.ts" && b === "src/frame/sql.ts"),
    "static export-from",
  );
  assert.ok(
    edges.some(([a, b]) => a === "kernel/server.ts" && b.startsWith("src/display/")),
    "kernel -> library",
  );
  assert.ok(
    edges.some(([a, b]) => a === "src/cli/main.ts" && b === "src/cli/commands.ts"),
    "cli -> cli",
  );
});

test("data layers never import display layers (frame does not import viz)", () => {
  assert.deepEqual(
    violations(
      (a) => DATA.includes(folder(a)),
      (b) => DISPLAY.includes(folder(b)),
    ),
    [],
  );
});

test("the library never imports the kernel or the CLI", () => {
  assert.deepEqual(
    violations(
      (a) => a.startsWith("src/") && folder(a) !== "src/cli",
      (b) => b.startsWith("kernel/") || folder(b) === "src/cli",
    ),
    [],
  );
});

test("the kernel never imports the CLI (the CLI loads the kernel, not the other way round)", () => {
  assert.deepEqual(
    violations(
      (a) => a.startsWith("kernel/"),
      (b) => folder(b) === "src/cli",
    ),
    [],
  );
});

test("nothing inside src/ imports the public barrel src/index.ts (modules import each other's files)", () => {
  assert.deepEqual(
    violations(
      (a) => a.startsWith("src/") || a.startsWith("kernel/"),
      (b) => b === "src/index.ts",
    ),
    [],
  );
});

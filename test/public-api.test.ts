// The curated `agl` surface (issue 12 item 7): the top level is exactly the
// researcher's list below, every other public name sits in its module's
// namespace, and internals (schemas, byte tables, template markers, transition
// tables, parse helpers) are in neither. README's "The agl namespace" documents it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as agl from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const TOP_VALUES = [
  // agents and what they record
  "rollout",
  "emitReward",
  "emitMessage",
  "emitObject",
  "emitException",
  "emitAnnotation",
  "operation",
  "formatPrompt",
  "instrumentOpenAI",
  "instrumentFrameworks",
  "devStore",
  // where runs live
  "openStore",
  "connectStore",
  "serveStore",
  // training
  "Trainer",
  "algorithms",
  "spansToTriplets",
  // looking at runs
  "frames",
  "sql",
  "rescore",
  "writeSyntheticRun",
  "charts",
  "chart",
  "table",
  "display",
  "updateDisplay",
  "clearOutput",
  "progress",
  "recordSeed",
  // everything else, by module
  "native",
  "examples",
  "store",
  "server",
  "tracer",
  "runner",
  "adapter",
  "llm",
  "tokenizer",
  "types",
  "viz",
  "notebook",
];

const TOP_TYPES = [
  "Span",
  "Rollout",
  "Attempt",
  "PromptTemplate",
  "LightningStore",
  "Agent",
  "RolloutContext",
  "Triplet",
  "TrainerOptions",
  "FitData",
  "RescoreContext",
];

/** Namespace -> the module index whose exports it is. */
const NAMESPACES: Record<string, string> = {
  native: "native",
  examples: "examples",
  store: "store",
  server: "server",
  tracer: "tracer",
  runner: "runner",
  adapter: "adapter",
  llm: "llm",
  tokenizer: "tokenizer",
  types: "types",
  viz: "viz",
  notebook: "display",
  algorithms: "algorithm",
};

const INTERNALS = [
  "BYTE_TO_CHAR",
  "CHAR_TO_BYTE",
  "toByteLevel",
  "GPT2_PATTERN",
  "QWEN2_PATTERN_HF",
  "compilePattern",
  "pretokenize",
  "CHATML_START",
  "CHATML_END",
  "TOOL_CALL_OPEN",
  "TOOL_CALL_CLOSE",
  "BYTE_SPECIALS",
  "pyJson",
  "ROLLOUT_TRANSITIONS",
  "ATTEMPT_TRANSITIONS",
  "checkRolloutTransition",
  "checkAttemptTransition",
  "resultFromBody",
  "StreamAccumulator",
  "forcedToolPrefix",
  "KERNEL_HOOK",
  "kernelHook",
  "setKernelHook",
  "SPAN_COLUMNS",
  "SPAN_COLUMN_NAMES",
  "STORE_LAYOUT",
  "promotedColumns",
  "readWalSpans",
  "isLoopbackHost",
  "assertBindAllowed",
  "bearerMatches",
  "SPAN_SEQUENCE_ATTR",
  "chartFontPath",
  "CHART_FONT_FAMILY",
  "AGENT_NAME_KEYS",
  "CREDIT_MODES",
  "idSchema",
  "parseId",
  "isValidId",
  "isWellFormedText",
  "seededRandom",
  "RESCORED_ATTR",
];

const sorted = (xs: Iterable<string>) => [...xs].sort();

test("the top level of agl holds exactly the documented researcher names", () => {
  assert.deepEqual(sorted(Object.keys(agl)), sorted(TOP_VALUES));
});

test("the top level's types are exactly the documented data-model types (read from src/index.ts)", () => {
  const src = ts.createSourceFile("index.ts", readFileSync(join(root, "src/index.ts"), "utf8"), ts.ScriptTarget.ES2022);
  const types: string[] = [];
  for (const s of src.statements) {
    if (!ts.isExportDeclaration(s)) continue;
    // `export * from` would let a module's whole surface back in unseen.
    assert.ok(s.exportClause, `src/index.ts: a bare export * (${s.getText(src)})`);
    if (!ts.isNamedExports(s.exportClause)) continue;
    for (const e of s.exportClause.elements) if (s.isTypeOnly || e.isTypeOnly) types.push(e.name.text);
  }
  assert.deepEqual(sorted(types), sorted(TOP_TYPES));
});

test("no constant or schema name at the top", () => {
  for (const name of Object.keys(agl)) {
    assert.doesNotMatch(name, /^[A-Z0-9_]+$/, `constant at the top: ${name}`);
    assert.doesNotMatch(name, /Schema$/, `schema at the top: ${name}`);
  }
});

test("each namespace is its module's own index, and every top-level value is also in its module's namespace", async () => {
  const all = agl as unknown as Record<string, Record<string, unknown>>;
  for (const [ns, dir] of Object.entries(NAMESPACES)) {
    const mod = (await import(`../src/${dir}/index.js`)) as Record<string, unknown>;
    assert.deepEqual(sorted(Object.keys(all[ns]!)), sorted(Object.keys(mod)), ns);
    for (const k of Object.keys(mod)) assert.equal(all[ns]![k], mod[k], `${ns}.${k}`);
  }
  const homes = ["tracer", "store", "server", "runner", "adapter", "notebook", "viz"];
  for (const name of TOP_VALUES) {
    if (name in NAMESPACES || ["Trainer", "formatPrompt", "frames", "sql", "rescore", "writeSyntheticRun"].includes(name)) continue;
    const home = homes.find((ns) => name in all[ns]!);
    assert.ok(home, `${name}: in no module namespace`);
    assert.equal(all[home]![name], all[name], `agl.${name} is agl.${home}.${name}`);
  }
});

test("internals are exported from neither the top nor any namespace", () => {
  const all = agl as unknown as Record<string, Record<string, unknown>>;
  const places: Array<[string, Record<string, unknown>]> = [
    ["agl", all as Record<string, unknown>],
    ...Object.keys(NAMESPACES).map((ns) => [`agl.${ns}`, all[ns]!] as [string, Record<string, unknown>]),
  ];
  for (const [where, obj] of places) {
    for (const name of Object.keys(obj)) assert.doesNotMatch(name, /Schema$/, `zod schema ${where}.${name}`);
    for (const name of INTERNALS) assert.ok(!(name in obj), `internal ${where}.${name}`);
  }
});

test("the algorithms namespace keeps the call syntax: agl.algorithms.grpo/sft/apo/promptSearch/baseline, apo.history and apo.runs", () => {
  for (const f of ["grpo", "sft", "apo", "promptSearch", "baseline"] as const) assert.equal(typeof agl.algorithms[f], "function", f);
  assert.equal(typeof agl.algorithms.apo.history, "function");
  assert.equal(typeof agl.algorithms.apo.runs, "function");
  assert.equal(agl.algorithms.baseline().name, "baseline");
});

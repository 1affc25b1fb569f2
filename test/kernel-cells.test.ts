// Everyday cell code on a real kernel process (the built dist/kernel), driven
// over its sockets: standard globals, live output from synchronous loops,
// interrupts that arrive at any moment, and what an interrupt keeps.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { requireKernelPrereqs } from "./kernel-helpers.js";
import { KernelClient, type Executed, type IOPub } from "./kernel-client.js";
import { stripAnsi } from "../kernel/traceback.js";

let k: KernelClient;

before(
  async () => {
    requireKernelPrereqs();
    k = await KernelClient.start();
  },
  { timeout: 240_000 },
);

after(async () => {
  await k?.close();
});

// [global, used as a value, used as a constructor (or null), used as a type]
const GLOBALS: Array<[string, string, string | null, string]> = [
  ["Array", "Array.from([1, 2]).length", "new Array<number>(3).length", "Array<number>"],
  ["Object", "Object.keys({ a: 1 }).length", "new Object()", "Object"],
  ["Map", "Map.name", "new Map<string, number>([['a', 1]]).size", "Map<string, number>"],
  ["Set", "Set.name", "new Set([1, 1]).size", "Set<number>"],
  ["WeakMap", "WeakMap.name", "new WeakMap<object, number>()", "WeakMap<object, number>"],
  ["Promise", "Promise.resolve(1)", "new Promise<number>((r) => r(1))", "Promise<number>"],
  ["Symbol", "Symbol.for('x').toString()", null, "symbol"],
  ["JSON", "JSON.stringify([1])", null, "JSON"],
  ["Math", "Math.max(1, 2)", null, "Math"],
  ["Date", "Date.now() > 0", "new Date(0).getTime()", "Date"],
  ["RegExp", "RegExp('a').test('a')", "new RegExp('b').source", "RegExp"],
  ["Error", "Error('e').message", "new Error('e').message", "Error"],
  ["TypeError", "TypeError.name", "new TypeError('t').name", "TypeError"],
  ["RangeError", "RangeError.name", "new RangeError('r').name", "RangeError"],
  ["SyntaxError", "SyntaxError.name", "new SyntaxError('s').name", "SyntaxError"],
  ["ReferenceError", "ReferenceError.name", "new ReferenceError('r').name", "ReferenceError"],
  ["Uint8Array", "Uint8Array.from([1]).length", "new Uint8Array(2).length", "Uint8Array"],
  ["Float64Array", "Float64Array.BYTES_PER_ELEMENT", "new Float64Array(2).length", "Float64Array"],
  ["Int32Array", "Int32Array.of(1).length", "new Int32Array(1).length", "Int32Array"],
  ["BigInt", "BigInt(2) * 2n", null, "bigint"],
  ["Intl", "new Intl.NumberFormat('en').format(1)", "new Intl.DateTimeFormat('en')", "Intl.NumberFormat"],
  ["URL", "URL.canParse?.('http://a') ?? true", "new URL('http://a/b').pathname", "URL"],
  ["TextEncoder", "TextEncoder.name", "new TextEncoder().encode('a').length", "TextEncoder"],
  ["structuredClone", "structuredClone({ a: 1 }).a", null, "typeof structuredClone"],
  ["fetch", "typeof fetch", null, "typeof fetch"],
  ["AbortController", "AbortController.name", "new AbortController().signal.aborted", "AbortController"],
  ["Buffer", "Buffer.from('ab').length", null, "Buffer"],
  ["process", "process.version", null, "NodeJS.Process"],
  ["setTimeout", "typeof setTimeout", null, "ReturnType<typeof setTimeout>"],
];

test("every standard global works in a cell as a value, a constructor and a type", { timeout: 120_000 }, async () => {
  // A declaration first: the bug made names of the previous cells' declarations shadow the globals.
  assert.equal(await k.value("const before = 1;\nbefore"), "1");
  // One cell for all of them (a cell per global takes a minute on a loaded machine); a failure names the line.
  const lines: string[] = [];
  for (const [name, value, ctor, type] of GLOBALS) {
    lines.push(`const v_${name} = ${value};`, `let t_${name}: ${type} | undefined = undefined;`);
    if (ctor !== null) lines.push(`const c_${name} = ${ctor};`);
  }
  const checks = GLOBALS.map(
    ([name, , ctor]) =>
      `\`${name}:\${typeof ${name}} \${typeof t_${name}} \${${ctor !== null ? `c_${name} !== undefined` : "true"}} \${v_${name} !== undefined}\``,
  );
  lines.push(`[${checks.join(", ")}].join(";")`);
  const { ran, report } = await withTypeReport(lines.join("\n"));
  assert.equal(report, "", "every global type-checks as a value, a constructor and a type");
  const result = ran.iopub.find((m) => m.type === "execute_result");
  assert.ok(result, JSON.stringify(ran.reply));
  const got = String((result.content.data as Record<string, unknown>)["text/plain"])
    .replace(/^'|'$/g, "")
    .split(";");
  assert.equal(got.length, GLOBALS.length, got.join("\n"));
  for (const line of got) assert.match(line, /^\w+:(function|object) undefined true true$/, line);
});

test("an interrupt sent before the cell's loop begins still stops it", { timeout: 60_000 }, async () => {
  for (const code of [
    "let spin1 = 0;\nwhile (true) { spin1++; }",
    "await new Promise((r) => setTimeout(r, 10));\nlet spin2 = 0;\nfor (;;) spin2++;",
  ]) {
    const run = k.execute(code, { timeoutMs: 30_000 });
    // At once: the interrupt lands while the cell is still being compiled.
    await k.request("interrupt_request", {}, "control");
    const r = await run;
    assert.equal(r.reply.status, "error", code);
    assert.equal(r.reply.ename, "KeyboardInterrupt", code);
  }
  assert.equal(await k.value("1 + 1"), "2");
});

test("a synchronous loop that started after an await is interrupted mid-loop", { timeout: 60_000 }, async () => {
  const run = k.execute("await new Promise((r) => setTimeout(r, 10));\nlet spin3 = 0;\nwhile (true) { spin3++; }", { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 800));
  await k.request("interrupt_request", {}, "control");
  const r = await run;
  assert.equal(r.reply.ename, "KeyboardInterrupt");
});

test("recursion with no loop stops on an interrupt, before and after an await", { timeout: 90_000 }, async () => {
  for (const code of [
    "function grow(n: number): number { return n < 0 ? 0 : grow(n - 1) + grow(n - 2); }\ngrow(200)",
    "await new Promise((r) => setTimeout(r, 10));\nconst grow2 = (n: number): number => (n < 0 ? 0 : grow2(n - 1) + grow2(n - 2));\ngrow2(200)",
  ]) {
    const run = k.execute(code, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 500));
    await k.request("interrupt_request", {}, "control");
    const r = await run;
    assert.equal(r.reply.ename, "KeyboardInterrupt", code);
  }
  assert.equal(await k.value("1 + 1"), "2");
});

test("a loop whose body is a bare await runs and is interrupted", { timeout: 60_000 }, async () => {
  await k.execute("let beats = 0;");
  const run = k.execute("for (;;) await new Promise((r) => setTimeout(r, 5, beats++));", { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  await k.request("interrupt_request", {}, "control");
  const r = await run;
  assert.equal(r.reply.ename, "KeyboardInterrupt", JSON.stringify(r.reply));
  assert.ok(Number(await k.value("beats")) > 0);
});

test("cells with imports, with declarations and with neither each run and share their names", { timeout: 60_000 }, async () => {
  const r = await k.execute(
    'import { basename } from "node:path";\nimport type { Feature } from "geojson";\nconst none: Feature | undefined = undefined;\nconst base = 40;\nbasename(none ?? "/a/b.txt")',
  );
  assert.equal(r.reply.status, "ok", JSON.stringify(r.reply));
  assert.equal(await k.value("basename('/c/d.ts') + (base + 2)"), "'d.ts42'");
  assert.equal(await k.value("let counted: number = 0;\nfor (const v of [1, 2]) counted += v;\ncounted"), "3");
  assert.equal(await k.value("1 + 1"), "2");
  assert.equal(await k.value("[1, 2, 3].map((x) => x * 2).join()"), "'2,4,6'");
});

test("an interrupted cell keeps what it declared and what it computed", { timeout: 60_000 }, async () => {
  let looping!: () => void;
  const started = new Promise<void>((r) => (looping = r));
  const run = k.execute('let spins = 0;\nconsole.log("looping");\nwhile (true) { spins++; await new Promise((r) => setTimeout(r, 10)); }', {
    timeoutMs: 30_000,
    onIOPub: (m) => m.type === "stream" && looping(),
  });
  await started;
  await new Promise((r) => setTimeout(r, 300));
  await k.request("interrupt_request", {}, "control");
  assert.equal((await run).reply.ename, "KeyboardInterrupt");
  const spins = Number(await k.value("spins"));
  assert.ok(spins > 0, `spins = ${spins}`);
  // A runtime error keeps the declarations before it too.
  const failed = await k.execute('const partial = 41;\nthrow new Error("late");');
  assert.equal(failed.reply.status, "error");
  assert.equal(await k.value("partial + 1"), "42");
});

test("prints and progress updates from a synchronous loop arrive while it runs", { timeout: 60_000 }, async () => {
  const seen: Array<{ at: number; m: IOPub }> = [];
  const started = Date.now();
  const r = await k.execute(
    `const bar = agl.progress({ total: 4, label: "sync", throttleMs: 0 });
for (let i = 0; i < 4; i++) {
  const until = Date.now() + 400;
  while (Date.now() < until) {}
  console.log("step", i);
  bar.tick();
}`,
    { onIOPub: (m) => seen.push({ at: Date.now() - started, m }) },
  );
  assert.equal(r.reply.status, "ok", JSON.stringify(r.reply));
  const done = Date.now() - started;
  const firstPrint = seen.find((s) => s.m.type === "stream");
  const firstUpdate = seen.find((s) => s.m.type === "update_display_data");
  assert.ok(firstPrint && firstUpdate, JSON.stringify(seen.map((s) => s.m.type)));
  // The loop runs at least 1.6 s; its first step must show well before the end.
  assert.ok(done - firstPrint.at > 600, `first print at ${firstPrint.at} ms, cell done at ${done} ms`);
  assert.ok(done - firstUpdate.at > 600, `first progress update at ${firstUpdate.at} ms, cell done at ${done} ms`);
});

test("a display object ending a cell shows once, not again as Out", { timeout: 60_000 }, async () => {
  const r = await k.execute('const b2 = agl.progress({ total: 2, label: "once" });\nb2.tick();\nb2.done();');
  assert.equal(r.reply.status, "ok");
  assert.equal(r.iopub.filter((m) => m.type === "display_data").length, 1);
  assert.equal(r.iopub.filter((m) => m.type === "execute_result").length, 0, JSON.stringify(r.iopub.map((m) => m.type)));
  // The same bar asked for in a later cell is shown: that is a new request to see it.
  assert.match(await k.value("b2"), /once \[#+-*\] 1\/2 .*done/);
});

test("errors show like IPython: coloured, the failing line in context, each frame once", { timeout: 60_000 }, async () => {
  const r = await k.execute(
    'function inner(n: number): number {\n  const twice = n * 2;\n  if (twice > 2) {\n    throw new RangeError("too big: " + twice);\n  }\n  return twice;\n}\ninner(1);\ninner(2);',
  );
  assert.equal(r.reply.ename, "RangeError");
  const tb = (r.reply.traceback as string[]).join("\n");
  assert.match(tb, /\x1b\[[0-9;]*m/, "coloured");
  const plain = tb.replace(/\x1b\[[0-9;]*m/g, "");
  assert.match(plain, /^RangeError: too big: 4$/m);
  assert.match(plain, /at inner \(cell\[\d+\]:4\)/);
  // Two lines before the failing one, the arrow on it, two after.
  assert.match(plain, /^ +2 +const twice = n \* 2;\n +3 +if \(twice > 2\) \{\n----> 4 +throw new RangeError/m);
  assert.match(plain, /----> 4 .*\n +5 +\}\n +6 +return twice;/);
  const frames = plain.split("\n").filter((l) => /^\s+at /.test(l));
  assert.equal(new Set(frames).size, frames.length, frames.join("\n"));
  // Syntax errors fail the cell before it runs, with the same context.
  const bad = await k.execute("const ok = 1;\nconst broken = (;");
  assert.equal(bad.reply.ename, "TSError");
  assert.match(stripAnsi((bad.reply.traceback as string[]).join("\n")), /error TS1109[\s\S]*----> 2 const broken = \(;/);
});

/**
 * Runs a cell and returns it with the type-check reports about it. The check runs beside the cell: its
 * report is in the cell's output, or at the top of the next cell's. A completion request is answered
 * after every check sent before it, so the cell run after one holds any report still owed.
 */
async function withTypeReport(code: string): Promise<{ ran: Executed; report: string }> {
  const ran = await k.execute(code, { stopOnError: false });
  await k.request("complete_request", { code: "", cursor_pos: 0 }, "shell", 120_000);
  const next = await k.execute("0");
  const streams = [...ran.iopub, ...next.iopub].filter((m) => m.type === "stream" && m.content.name === "stderr");
  return { ran, report: stripAnsi(streams.map((m) => String(m.content.text)).join("")) };
}

test("type errors are reported with their line in context, and the cell still runs", { timeout: 180_000 }, async () => {
  const { ran, report } = await withTypeReport("const n: number = 1;\nconst s: string = n;");
  assert.equal(ran.reply.status, "ok", "a type error does not fail the cell (it ran, as TypeScript emits despite errors)");
  assert.match(report, /cell\[\d+\]:2:7 - error TS2322: Type 'number' is not assignable to type 'string'/);
  assert.match(report, /----> 2 const s: string = n;/);
  // What it declared is there at run time and for the checker: no "Cannot find name" cascade.
  const later = await withTypeReport("typeof s");
  assert.equal(later.report, "");
  assert.match(JSON.stringify(later.ran.iopub), /"text\/plain":"'number'"/);
  // A cell that runs longer than its check gets the report in its own output.
  const long = await k.execute("const k1: number = 1;\nconst k2: string = k1;\nawait new Promise((r) => setTimeout(r, 4000));");
  assert.match(
    stripAnsi(
      long.iopub
        .filter((m) => m.type === "stream")
        .map((m) => String(m.content.text))
        .join(""),
    ),
    /cell\[\d+\]:2:7 - error TS2322/,
  );
  // A clean cell with types, names from earlier cells and standard globals has no report.
  const clean = await withTypeReport('const xs: Map<string, number> = new Map([["a", n]]);\nArray.from(xs.values()).toSorted()');
  assert.equal(clean.report, "");
});

test("Shift-Tab after an open parenthesis shows the signature and the options' docs", { timeout: 60_000 }, async () => {
  for (const code of ["agl.charts.rewardCurve(", 'const c = agl.charts.rewardCurve(rows, { x: "step", ']) {
    const r = await k.request("inspect_request", { code, cursor_pos: code.length, detail_level: 0 });
    assert.equal(r.status, "ok");
    assert.equal(r.found, true, code);
    const text = String((r.data as Record<string, unknown>)["text/plain"]);
    assert.match(text, /rewardCurve\(frame: unknown, opts\?: RewardCurveOptions\)/, text);
    assert.match(text, /Reward by training step/, text);
    if (code.includes("{")) assert.match(text, /window\?: number[\s\S]*Rolling-mean window/, text);
  }
  // On a name, the name.
  const m = await k.request("inspect_request", { code: "Math.max", cursor_pos: 8, detail_level: 0 });
  assert.match(String((m.data as Record<string, unknown>)["text/plain"]), /max\(/);
});

test("agl. completion offers what a researcher uses first, internals last", { timeout: 60_000 }, async () => {
  const r = await k.request("complete_request", { code: "agl.", cursor_pos: 4 });
  const matches = r.matches as string[];
  const top = matches.slice(0, 20);
  for (const name of top) assert.doesNotMatch(name, /^[A-Z0-9_]+$|Schema$/, `internal name in the top 20: ${top.join(", ")}`);
  for (const name of ["display", "progress", "charts", "table"]) assert.ok(matches.includes(name), name);
  const firstConstant = matches.findIndex((n) => /^[A-Z0-9_]+$/.test(n));
  const lastValue = matches.findLastIndex((n) => /^[a-z]/.test(n));
  assert.ok(firstConstant === -1 || firstConstant > lastValue, "constants come after every camelCase name");
  const firstSchema = matches.findIndex((n) => /Schema$/.test(n));
  assert.ok(firstSchema === -1 || firstSchema > lastValue, "schemas come after every camelCase name");
});

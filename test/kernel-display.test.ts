import { test } from "node:test";
import assert from "node:assert/strict";
import {
  display,
  updateDisplay,
  clearOutput,
  progress,
  registerFormatter,
  unregisterFormatter,
  toMimeBundle,
  recordSeed,
  recordedSeeds,
  clearSeeds,
  runInfo,
  DISPLAY,
} from "../src/display/index.js";
import { setKernelHook, type KernelDisplayRequest } from "../src/display/hook.js";
import { ValidationError } from "../src/types/errors.js";

function captureConsole(fn: () => void): string[] {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    fn();
  } finally {
    console.log = orig;
  }
  return lines;
}

test("outside a kernel, display prints the text/plain form", () => {
  const shown = { [DISPLAY]: () => ({ "text/html": "<b>x</b>", "text/plain": "x as text" }) };
  assert.deepEqual(
    captureConsole(() => display(shown)),
    ["x as text"],
  );
  assert.deepEqual(
    captureConsole(() => display("plain string")),
    ["plain string"],
  );
});

test("inside a kernel, display/update/clear go through the registered hook", () => {
  const seen: Array<KernelDisplayRequest | { clear: boolean }> = [];
  const remove = setKernelHook({ display: (r) => seen.push(r), clearOutput: (wait) => seen.push({ clear: wait }) });
  try {
    display({ a: 1 }, { displayId: "d" });
    updateDisplay("d", { a: 2 });
    clearOutput({ wait: true });
  } finally {
    remove();
  }
  assert.deepEqual(seen, [
    { bundle: { "text/plain": "{ a: 1 }" }, displayId: "d", metadata: undefined },
    { bundle: { "text/plain": "{ a: 2 }" }, displayId: "d", update: true, metadata: undefined },
    { clear: true },
  ]);
  assert.throws(() => display(1, { displayId: "" }), ValidationError);
});

test("registered formatters handle values without a display method; the protocol wins over them", () => {
  registerFormatter("test-arrays", (v) => (Array.isArray(v) ? { "text/html": `<ol>${v.length}</ol>` } : undefined));
  try {
    assert.deepEqual(toMimeBundle([1, 2]), { "text/html": "<ol>2</ol>", "text/plain": "[ 1, 2 ]" });
    const own = Object.assign([1], { [DISPLAY]: () => ({ "text/plain": "mine" }) });
    assert.deepEqual(toMimeBundle(own), { "text/plain": "mine" });
  } finally {
    assert.equal(unregisterFormatter("test-arrays"), true);
  }
  assert.deepEqual(toMimeBundle([1, 2]), { "text/plain": "[ 1, 2 ]" });
});

test("progress degrades to throttled text lines outside a notebook and always shows the end", () => {
  const lines: string[] = [];
  const bar = progress({ total: 1000, label: "steps", throttleMs: 60_000, write: (l) => lines.push(l) });
  for (let i = 1; i < 1000; i++) bar.update(i, { reward: 0.5 });
  assert.equal(lines.length, 1, "throttled: only the first update shows within the window");
  bar.update(1000);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^steps \[#{20}\] 1000\/1000 \(100%\) .* reward=0\.5000 done$/);
  assert.throws(() => progress({ total: 0 }), ValidationError);
});

test("progress in a notebook updates one display in place", () => {
  const seen: KernelDisplayRequest[] = [];
  const remove = setKernelHook({ display: (r) => seen.push(r), clearOutput: () => {} });
  try {
    const bar = progress({ total: 3, label: "rollouts", throttleMs: 0 });
    bar.tick();
    bar.tick();
    bar.tick();
  } finally {
    remove();
  }
  assert.equal(seen[0]!.update, undefined);
  assert.ok(seen.slice(1).every((r) => r.update === true && r.displayId === seen[0]!.displayId));
  assert.match(String(seen.at(-1)!.bundle["text/plain"]), /3\/3 .*done/);
  assert.match(String(seen.at(-1)!.bundle["text/html"]), /<progress value="3" max="3"/);
});

test("seeds recorded for a run appear in its run info", () => {
  clearSeeds();
  recordSeed("sampler", 7);
  recordSeed("shuffle", 3n);
  assert.deepEqual(recordedSeeds(), { sampler: 7, shuffle: "3" });
  const info = runInfo();
  assert.equal(info.nodeVersion, process.version);
  assert.match(info.arclightVersion, /^\d+\.\d+\.\d+/);
  assert.throws(() => recordSeed("", 1), ValidationError);
  clearSeeds();
});

// `npm run demo`: train the addition agent with GRPO on the durable store in
// runs/demo, write runs/demo/report.html, and print the before/after line.
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openStore } from "../store/index.js";
import { runInfo } from "../display/run-info.js";
import { ARITHMETIC_POLICY, trainArithmetic } from "./arithmetic.js";
import { renderReport } from "./report.js";

export const DEMO_CONFIG = { steps: 120, seed: 1, nRunners: 4, lr: 5e-3, groupSize: 8, batchSize: 16, evalEvery: 20 } as const;

export async function runDemo(dir = "runs/demo"): Promise<{ before: number | null; after: number | null; report: string }> {
  const root = resolve(dir);
  // every demo run starts from an empty store so its numbers are its own
  await rm(root, { recursive: true, force: true });
  const store = await openStore(root);
  try {
    const r = await trainArithmetic({ store, ...DEMO_CONFIG, progress: true });
    const report = join(root, "report.html");
    await writeFile(
      report,
      renderReport({
        before: r.before,
        after: r.after,
        history: r.history,
        seconds: r.seconds,
        config: { ...DEMO_CONFIG, policy: ARITHMETIC_POLICY, tasks: r.tasks.length },
        runInfo: runInfo(),
      }),
    );
    console.log(`report: ${report} (${r.seconds.toFixed(0)} s)`);
    return { before: r.before, after: r.after, report };
  } finally {
    await store.close();
  }
}

const fmt = (x: number | null) => (x === null ? "n/a" : x.toFixed(3));

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const r = await runDemo(process.argv[2]);
  console.log(`validation reward: before ${fmt(r.before)} -> after ${fmt(r.after)}`);
}

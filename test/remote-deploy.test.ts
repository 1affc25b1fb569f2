// The README's "Deployment beyond one machine" recipe, as separate processes:
// `arclight store serve` on all interfaces with a token, an `arclight runner`
// process, and a trainer that only connects (nRunners: 0).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as agl from "../src/index.js";

const cli = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const agentModule = fileURLToPath(new URL("./fixtures/runner/agent.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "arclight-deploy-"));
after(() => rmSync(root, { recursive: true, force: true }));
const TOKEN = "deploy-test-token-0123";

function cliProcess(args: string[], readyLine: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
    env: { ...process.env, ARCLIGHT_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = readyLine.exec(out);
      if (m) resolve({ child, match: m });
    });
    child.once("exit", (code) => reject(new Error(`arclight ${args[0]} exited ${code}: ${err}`)));
  });
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

test("store server on all interfaces + runner processes + a connecting trainer train together; the directory is left clean", {
  timeout: 120_000,
}, async () => {
  const dir = join(root, "exp1");
  const children: ChildProcess[] = [];
  try {
    const server = await cliProcess(
      ["store", "serve", "--dir", dir, "--host", "0.0.0.0", "--port", "0"],
      /at (http:\/\/\S+) \(token required\)/,
    );
    children.push(server.child);
    const url = server.match[1];
    // One runner process with two runners keeps the test quick; more processes are the same recipe again.
    const runners = [await cliProcess(["runner", "--store", url, "--agent", agentModule, "--runners", "2"], /ready/)];
    children.push(...runners.map((r) => r.child));

    // No token: refused.
    await assert.rejects(agl.connectStore(url, { token: "not-the-token" }), /401|token/);
    const store = await agl.connectStore(url, { token: TOKEN });
    assert.equal(store.kind, "durable");
    const trainer = new agl.Trainer({ store, nRunners: 0, log: () => {} });
    const res = await trainer.dev(
      agl.rollout(async () => 0),
      [0, 1, 2, 3, 1, 1, 4, 5].map((a) => ({ a, b: 2 })),
    );
    assert.equal(res.train.succeeded, 8);
    assert.equal(res.train.meanReward, 3 / 8);
    const pids = new Set((await store.queryWorkers()).map((w) => w.workerId.split("-").at(-2)));
    assert.deepEqual([...pids], [String(runners[0].child.pid)]);
    await store.close();

    // Runners first, then the server they talk to (the README's shutdown order).
    for (const r of runners) r.child.kill("SIGTERM");
    for (const r of runners) assert.equal(await exited(r.child), 0);
    server.child.kill("SIGTERM");
    assert.equal(await exited(server.child), 0);
    // The server closed its durable store: the lock is released and the spans are readable offline.
    const offline = await agl.openStore(dir, { readOnly: true });
    assert.equal((await offline.statistics()).spans, 16);
    await offline.close();
    assert.ok(existsSync(dir));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
});

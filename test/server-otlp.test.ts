// POST /v1/traces with the official OpenTelemetry exporters (protobuf and
// JSON, gzip or not) from separate processes, a Python agent, and bodies
// nobody should send.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { openStore } from "../src/store/index.js";
import { startStoreServer, buildStoreApp, attemptTracesPath } from "../src/server/index.js";
import { finalReward } from "../src/adapter/rewards.js";

const run = promisify(execFile);
const child = fileURLToPath(new URL("./fixtures/otlp/export-spans.ts", import.meta.url));
const pythonAgent = fileURLToPath(new URL("../examples/python-otlp-agent.py", import.meta.url));
const TOKEN = "otlp-test-token";

interface Job {
  kind: "proto" | "http";
  url: string;
  compression: "gzip" | "none";
  rolloutId?: string;
  attemptId?: string;
}

/** One child process runs every job (process start-up dominates otherwise). Returns each job's diagnostics. */
async function exportFromChild(jobs: Job[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", child, TOKEN, JSON.stringify(jobs)], { timeout: 40_000 });
  assert.match(stdout, /EXPORTED/);
  return jobs.map((_, i) =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith(`DIAG job${i} `))
      .join("\n"),
  );
}

test("spans from the official OTLP protobuf and JSON exporters (gzip and plain) land on their attempt intact; unknown attempts come back as partial success", {
  timeout: 60_000,
}, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, token: TOKEN, closeStore: true });
  try {
    const cases = [
      ["proto", "gzip"],
      ["http", "none"],
      ["proto", "none"],
      ["http", "gzip"],
    ] as const;
    const rollouts = await Promise.all(cases.map(() => store.startRollout({ input: 1 })));
    const extra = await store.startRollout({ input: 2 });
    const url = `${server.url}/v1/traces`;
    const diags = await exportFromChild([
      ...cases.map(([kind, compression], i) => ({
        kind,
        compression,
        url,
        rolloutId: rollouts[i].rolloutId,
        attemptId: rollouts[i].attempt.attemptId,
      })),
      { kind: "proto", compression: "none", url, rolloutId: extra.rolloutId, attemptId: "at-nope" },
      { kind: "http", compression: "none", url },
      // A per-attempt URL attributes spans that carry no attributes at all.
      { kind: "http", compression: "gzip", url: server.url + attemptTracesPath(extra.rolloutId, extra.attempt.attemptId) },
    ]);
    for (const [i, r] of rollouts.entries()) {
      assert.equal(diags[i], "", `case ${cases[i].join("/")} had warnings`);
      const spans = await store.querySpans({ rolloutId: r.rolloutId, attemptId: r.attempt.attemptId });
      assert.deepEqual(spans.map((s) => s.name).sort(), ["agent.run", "agentlightning.reward", "chat gpt-x"], `case ${cases[i].join("/")}`);
      const root = spans.find((s) => s.name === "agent.run")!;
      const llm = spans.find((s) => s.name === "chat gpt-x")!;
      assert.equal(llm.parentId, root.spanId);
      assert.equal(llm.traceId, root.traceId);
      assert.match(llm.traceId, /^[0-9a-f]{32}$/);
      assert.equal(llm.attributes["gen_ai.usage.input_tokens"], 12);
      assert.equal(llm.attributes["gen_ai.request.temperature"], 0.5);
      assert.deepEqual(llm.attributes.tags, ["a", "b"]);
      assert.equal(llm.attributes.ok, true);
      assert.deepEqual(llm.status, { statusCode: "ERROR", description: "rate limited" });
      assert.equal(llm.events[0].name, "first-token");
      assert.ok(Math.abs(llm.startTime - Date.now()) < 120_000, "times are epoch milliseconds");
      assert.ok(llm.endTime >= llm.startTime);
      assert.equal(llm.resource.attributes["service.name"], `agent-${cases[i][0]}`);
      assert.equal(finalReward(spans), 0.75);
      assert.equal((await store.getRolloutById(r.rolloutId))?.status, "running");
    }
    const unknown = diags[cases.length];
    assert.equal(unknown.split("\n").length, 3, unknown);
    assert.match(unknown, /Partial Success.*"rejectedSpans":1.*unknown attempt .*at-nope/);
    assert.match(diags[cases.length + 1], /Partial Success.*has no agentlightning.rollout_id/);
    assert.equal(diags[cases.length + 2], "");
    assert.equal((await store.querySpans({ rolloutId: extra.rolloutId })).length, 3);
    assert.equal((await store.statistics()).spans, 3 * cases.length + 3);
  } finally {
    await server.close();
  }
});

test("undecodable OTLP bodies get 400 with a google.rpc.Status, never a 5xx (fuzz)", { timeout: 30_000 }, async () => {
  const store = await openStore();
  const app = buildStoreApp({ store, closeStore: true });
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, proto) => {
        const res = await app.inject({
          method: "POST",
          url: "/v1/traces",
          headers: { "content-type": proto ? "application/x-protobuf" : "application/json" },
          payload: Buffer.from(bytes),
        });
        assert.ok(res.statusCode === 200 || res.statusCode === 400, `${res.statusCode} ${res.body.slice(0, 200)}`);
      }),
      { numRuns: 300 },
    );
    const badGzip = await app.inject({
      method: "POST",
      url: "/v1/traces",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      payload: Buffer.from("not gzip"),
    });
    assert.equal(badGzip.statusCode, 400);
    const br = await app.inject({
      method: "POST",
      url: "/v1/traces",
      headers: { "content-type": "application/json", "content-encoding": "br" },
      payload: Buffer.from("{}"),
    });
    assert.equal(br.statusCode, 415);
    assert.match(br.body, /not supported/);
  } finally {
    await app.close();
  }
});

const python = "/usr/bin/python3";
test("a Python agent (standard library only) runs rollouts through the server; its spans and rewards land", {
  timeout: 60_000,
  skip: existsSync(python) ? false : "no /usr/bin/python3",
}, async () => {
  const store = await openStore();
  const server = await startStoreServer({ store, port: 0, token: TOKEN, closeStore: true });
  try {
    const rs = await store.enqueueManyRollouts(Array.from({ length: 6 }, (_, i) => ({ input: { a: i, b: 2 } })));
    const { stdout } = await run(python, [pythonAgent, "--store", server.url, "--token", TOKEN, "--seed", "1"], { timeout: 45_000 });
    assert.match(stdout, /ran 6 rollout/);
    for (const r of rs) {
      const ro = await store.getRolloutById(r.rolloutId);
      assert.equal(ro?.status, "succeeded");
      const spans = await store.querySpans({ rolloutId: r.rolloutId });
      assert.deepEqual(
        spans.map((s) => s.name),
        ["chat python-adder", "agentlightning.reward"],
      );
      assert.equal(spans[0].attributes["gen_ai.usage.input_tokens"], 7);
      const reward = finalReward(spans);
      assert.ok(reward === 0 || reward === 1);
    }
  } finally {
    await server.close();
  }
});

// The remote store (connectStore) against a store server passes the same
// contract as the memory and durable stores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { frames } from "../src/frame/index.js";
import { openStore } from "../src/store/index.js";
import { connectStore } from "../src/store/remote-store.js";
import { startStoreServer } from "../src/server/index.js";
import { storeContract } from "./store-suite.js";

storeContract("remote", async (opts) => {
  const backing = await openStore(undefined, opts);
  const server = await startStoreServer({ store: backing, port: 0, closeStore: true });
  const client = await connectStore(server.url);
  const close = client.close.bind(client);
  // Closing the client in a test also stops its private server.
  client.close = async () => {
    await close();
    await server.close();
  };
  return client;
});

test("frames read a remote store like a local one: an OTLP-ingested LLM call and its reward", { timeout: 20_000 }, async () => {
  const backing = await openStore();
  const server = await startStoreServer({ store: backing, port: 0, closeStore: true });
  const remote = await connectStore(server.url);
  try {
    const r = await remote.startRollout({ input: 1 });
    const attr = (key: string, value: object) => ({ key, value });
    const res = await fetch(`${server.url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [
                attr("agentlightning.rollout_id", { stringValue: r.rolloutId }),
                attr("agentlightning.attempt_id", { stringValue: r.attempt.attemptId }),
              ],
            },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: "ab".repeat(16),
                    spanId: "01".repeat(8),
                    name: "chat m",
                    startTimeUnixNano: "1700000000000000000",
                    endTimeUnixNano: "1700000000500000000",
                    attributes: [
                      attr("gen_ai.operation.name", { stringValue: "chat" }),
                      attr("gen_ai.request.model", { stringValue: "m" }),
                      attr("gen_ai.usage.input_tokens", { intValue: "5" }),
                    ],
                  },
                  {
                    traceId: "ab".repeat(16),
                    spanId: "02".repeat(8),
                    name: "agentlightning.reward",
                    startTimeUnixNano: "1700000000600000000",
                    endTimeUnixNano: "1700000000600000000",
                    attributes: [
                      attr("agentlightning.reward.0.name", { stringValue: "primary" }),
                      attr("agentlightning.reward.0.value", { doubleValue: 0.5 }),
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(res.status, 200);
    const calls = await frames.llmCalls(remote);
    assert.equal(calls.numRows(), 1);
    const rewards = await frames.rewards(remote);
    assert.equal(rewards.numRows(), 1);
    assert.equal(rewards.get("value", 0), 0.5, `columns: ${rewards.columnNames()}`);
  } finally {
    await remote.close();
    await server.close();
  }
});

// What an upstream is asked for beyond the client's body: token ids and
// logprobs in the shape each route takes (chat: a boolean; text completions:
// a count, OpenAI's and vLLM's integer), and the Messages API's top_k, which
// must reach the upstream rather than vanish. The upstream is a loopback HTTP
// server in this test standing in for vLLM (this machine cannot reach one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { LlmProxy } from "../src/llm/proxy.js";
import { UpstreamBackend } from "../src/llm/upstream-backend.js";

const seen: Record<string, unknown>[] = [];
let upstream: Server;
let proxy: LlmProxy;

before(async () => {
  upstream = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      seen.push(body);
      const chat = req.url?.endsWith("/chat/completions");
      const choice = chat
        ? { index: 0, message: { role: "assistant", content: "42" }, finish_reason: "stop" }
        : { index: 0, text: "42", finish_reason: "stop" };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ id: "x", object: chat ? "chat.completion" : "text_completion", created: 1, model: body.model, choices: [choice] }),
      );
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const baseURL = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  proxy = await new LlmProxy({ backend: new UpstreamBackend({ baseURL, models: ["up"], requestTokenIds: true }) }).start();
});

after(async () => {
  await proxy?.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

async function post(path: string, body: unknown): Promise<number> {
  const r = await fetch(proxy.url.replace(/\/v1$/, "") + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
}

test("a forwarded text completion asks for logprobs as a count (0: the sampled token's), chat as a boolean; a client's own value stays", {
  timeout: 20_000,
}, async () => {
  assert.equal(await post("/v1/completions", { model: "up", prompt: "6*7=" }), 200);
  assert.deepEqual([seen.at(-1)!.logprobs, seen.at(-1)!.return_token_ids], [0, true]);
  assert.equal(await post("/v1/completions", { model: "up", prompt: "6*7=", logprobs: 3 }), 200);
  assert.equal(seen.at(-1)!.logprobs, 3);
  assert.equal(await post("/v1/chat/completions", { model: "up", messages: [{ role: "user", content: "6*7?" }] }), 200);
  assert.deepEqual([seen.at(-1)!.logprobs, seen.at(-1)!.return_token_ids], [true, true]);
});

test("the Messages API's top_k reaches the upstream as vLLM's top_k, never dropped", { timeout: 20_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), async (k) => {
      const status = await post("/v1/messages", { model: "up", max_tokens: 8, top_k: k, messages: [{ role: "user", content: "6*7?" }] });
      return status === 200 && seen.at(-1)!.top_k === k;
    }),
    { numRuns: 10 },
  );
  assert.equal(await post("/v1/messages", { model: "up", max_tokens: 8, messages: [{ role: "user", content: "6*7?" }] }), 200);
  assert.equal("top_k" in seen.at(-1)!, false, "no top_k asked, none sent");
});

// Forwarding to an upstream: the request goes through unchanged (every field,
// Arclight's or not), the answer comes back unchanged (tool calls included,
// streamed or not), and the call is recorded with the token ids and logprobs
// a vLLM-compatible upstream returns when asked. The upstream here is a small
// loopback HTTP server in this test standing in for a hosted LLM / vLLM
// (this machine cannot reach one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import * as agl from "../src/index.js";

interface Seen {
  path: string;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];
const sent: string[] = [];
let upstream: Server;
let upstreamURL = "";

const toolCall = { id: "call_up1", type: "function", function: { name: "calc", arguments: '{"expression":"6*7"}' } };

/** vLLM-style answers: prompt_token_ids, per-choice token_ids and logprobs, and a tool call. */
function answer(body: Record<string, unknown>): string {
  return JSON.stringify({
    id: "chatcmpl-up",
    object: "chat.completion",
    created: 1,
    model: body.model,
    prompt_token_ids: [1, 2, 3],
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: null, tool_calls: [toolCall] },
        finish_reason: "tool_calls",
        token_ids: [7, 8, 9],
        logprobs: {
          content: [
            { token: "a", logprob: -0.1, bytes: null, top_logprobs: [] },
            { token: "b", logprob: -0.2, bytes: null, top_logprobs: [] },
            { token: "c", logprob: -0.3, bytes: null, top_logprobs: [] },
          ],
        },
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
    vendor_extra: { kept: true },
  });
}

function streamed(body: Record<string, unknown>): string[] {
  const base = { id: "chatcmpl-up", object: "chat.completion.chunk", created: 1, model: body.model };
  const chunks = [
    {
      ...base,
      prompt_token_ids: [1, 2, 3],
      choices: [
        {
          index: 0,
          delta: {
            role: "assistant",
            content: null,
            tool_calls: [{ index: 0, id: "call_up1", type: "function", function: { name: "calc", arguments: "" } }],
          },
          token_ids: [7],
          logprobs: { content: [{ token: "a", logprob: -0.1 }] },
          finish_reason: null,
        },
      ],
    },
    {
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: '{"expression"' } }] },
          token_ids: [8],
          logprobs: { content: [{ token: "b", logprob: -0.2 }] },
          finish_reason: null,
        },
      ],
    },
    {
      ...base,
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: ':"6*7"}' } }] },
          token_ids: [9],
          logprobs: { content: [{ token: "c", logprob: -0.3 }] },
          finish_reason: null,
        },
      ],
    },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
  ];
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), "data: [DONE]\n\n"];
}

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
before(async () => {
  upstream = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      seen.push({ path: req.url ?? "", body });
      if (body.model === "refuse") {
        res.writeHead(422, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: { message: "upstream says no", type: "invalid_request_error" } }));
      }
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const parts = streamed(body);
        sent.push(parts.join(""));
        let i = 0;
        const next = (): void => void (i < parts.length ? res.write(parts[i++], () => setTimeout(next, 2)) : res.end());
        return void next();
      }
      const text = answer(body);
      sent.push(text);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  upstreamURL = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  store = await agl.openStore();
  proxy = await agl.llm.startLlmProxy({
    store,
    backend: new agl.llm.UpstreamBackend({ baseURL: upstreamURL, models: ["up", "refuse"], requestTokenIds: true }),
  });
});
after(async () => {
  await proxy.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "calc", parameters: { type: "object", properties: { expression: { type: "string" } } } } },
];

test("a chat request is forwarded unchanged, its answer returned byte for byte, and the call recorded with ids and tool calls", {
  timeout: 30_000,
}, async () => {
  const ar = await store.startRollout({ input: null });
  const request = {
    model: "up",
    messages: [
      { role: "user", content: "6*7?" },
      { role: "assistant", content: null, tool_calls: [toolCall] },
      { role: "tool", tool_call_id: "call_up1", content: "42" },
    ],
    tools,
    tool_choice: "auto",
    parallel_tool_calls: false,
    response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object" } } },
    frequency_penalty: 0.3,
    vendor_field: { anything: [1, "two"] },
  };
  const r = await fetch(`${proxy.urlFor(ar.rolloutId, ar.attempt.attemptId)}/chat/completions`, {
    method: "POST",
    body: JSON.stringify(request),
  });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), sent.at(-1), "the client gets exactly what the upstream sent");
  const got = seen.at(-1)!;
  assert.equal(got.path, "/v1/chat/completions");
  assert.deepEqual(
    got.body,
    { ...request, return_token_ids: true, logprobs: true },
    "every field passes through; token ids and logprobs are asked for",
  );
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 1);
  const [t] = agl.spansToTriplets(spans);
  assert.deepEqual(t.prompt.tokenIds, [1, 2, 3]);
  assert.deepEqual(t.response.tokenIds, [7, 8, 9]);
  assert.deepEqual(t.response.logprobs, [-0.1, -0.2, -0.3]);
  const out = JSON.parse(spans[0].attributes["gen_ai.output.messages"] as string);
  assert.deepEqual(out[0].tool_calls, [toolCall]);
  assert.deepEqual(spans[0].attributes["gen_ai.response.finish_reasons"], ["tool_calls"]);
  // a client that set logprobs itself keeps its value
  await fetch(`${proxy.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "x" }], logprobs: false }),
  });
  assert.equal(seen.at(-1)!.body.logprobs, false);
});

test("a streamed answer is relayed chunk by chunk and recorded from its tool-call deltas, ids and logprobs", {
  timeout: 30_000,
}, async () => {
  const ar = await store.startRollout({ input: null });
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId), maxRetries: 0 });
  const final = await client.chat.completions
    .stream({ model: "up", messages: [{ role: "user", content: "6*7?" }], tools })
    .finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(final.choices[0].message.tool_calls, [toolCall]);
  const raw = await fetch(`${proxy.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "up", stream: true, messages: [{ role: "user", content: "x" }] }),
  });
  assert.equal(raw.headers.get("content-type"), "text/event-stream");
  assert.equal(await raw.text(), sent.at(-1), "the stream arrives byte for byte");
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 1);
  const [t] = agl.spansToTriplets(spans);
  assert.deepEqual(t.prompt.tokenIds, [1, 2, 3]);
  assert.deepEqual(t.response.tokenIds, [7, 8, 9]);
  assert.deepEqual(t.response.logprobs, [-0.1, -0.2, -0.3]);
  assert.deepEqual(JSON.parse(spans[0].attributes["gen_ai.output.messages"] as string)[0].tool_calls, [toolCall]);
});

test("upstream errors pass through with their status; an unreachable upstream is a 502 with an OpenAI-style body", {
  timeout: 30_000,
}, async () => {
  const r = await fetch(`${proxy.url}/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "refuse", messages: [{ role: "user", content: "x" }] }),
  });
  assert.equal(r.status, 422);
  assert.equal(((await r.json()) as { error: { message: string } }).error.message, "upstream says no");
  const unknown = await fetch(`${proxy.url}/chat/completions`, { method: "POST", body: JSON.stringify({ model: "nope", messages: [] }) });
  assert.equal(unknown.status, 404);
  const dead = await agl.llm.startLlmProxy({ backend: new agl.llm.UpstreamBackend({ baseURL: "http://127.0.0.1:9/v1", models: ["up"] }) });
  try {
    const d = await fetch(`${dead.url}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(d.status, 502);
    assert.match(((await d.json()) as { error: { message: string } }).error.message, /upstream unreachable/);
  } finally {
    await dead.close();
  }
  assert.throws(() => new agl.llm.UpstreamBackend({ baseURL: "ftp://x", models: [] }), /baseURL must be http\(s\).*models must be/);
});

test("the Messages API over an upstream: tools go out as OpenAI tools, tool calls come back as tool_use blocks", {
  timeout: 30_000,
}, async () => {
  const client = new Anthropic({ apiKey: "x", baseURL: proxy.url.replace(/\/v1$/, ""), maxRetries: 0 });
  const m = await client.messages.create({
    model: "up",
    max_tokens: 32,
    system: "sys",
    tools: [{ name: "calc", input_schema: { type: "object", properties: { expression: { type: "string" } } } }],
    messages: [{ role: "user", content: "6*7?" }],
  });
  assert.equal(m.stop_reason, "tool_use");
  assert.deepEqual(m.content, [{ type: "tool_use", id: "call_up1", name: "calc", input: { expression: "6*7" } }]);
  const body = seen.at(-1)!.body;
  assert.deepEqual(body.messages, [
    { role: "system", content: "sys" },
    { role: "user", content: "6*7?" },
  ]);
  assert.deepEqual(body.tools, [
    { type: "function", function: { name: "calc", parameters: { type: "object", properties: { expression: { type: "string" } } } } },
  ]);
  assert.equal(body.max_tokens, 32);
});

// The LLM proxy beyond loopback: it refuses to listen without a token, and
// then answers only clients that send it (as the OpenAI or Anthropic SDK would).
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import * as agl from "../src/index.js";
import { ScriptedPolicy, chatmlBytes } from "./helpers/scripted-policy.js";

const backend = () => new agl.llm.PolicyBackend({ policy: new ScriptedPolicy(), tokenizer: chatmlBytes, model: "tiny" });

test("the LLM proxy refuses to listen beyond loopback without a token", () => {
  assert.throws(() => new agl.llm.LlmProxy({ backend: backend(), host: "0.0.0.0" }), /pass a token/);
  assert.throws(() => new agl.llm.LlmProxy({ backend: backend(), host: "0.0.0.0", token: "short" }), /at least 8 characters/);
});

test("with a token, the proxy answers 401 without it and serves the OpenAI and Anthropic clients that send it", {
  timeout: 60_000,
}, async () => {
  const token = "s3cret-token-for-tests";
  const proxy = await agl.llm.startLlmProxy({ backend: backend(), host: "0.0.0.0", token });
  try {
    const url = proxy.url.replace("0.0.0.0", "127.0.0.1");
    const bare = await fetch(`${url}/models`);
    assert.equal(bare.status, 401);
    const body = (await bare.json()) as { error: { type: string; code: string } };
    assert.equal(body.error.type, "authentication_error");

    const wrong = new OpenAI({ baseURL: url, apiKey: "wrong-token-123", maxRetries: 0 });
    await assert.rejects(
      wrong.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] }),
      (e: unknown) => (e as { status?: number }).status === 401,
    );

    const client = new OpenAI({ baseURL: url, apiKey: token, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 8 });
    assert.equal(r.choices[0].message.role, "assistant");

    const anthropic = new Anthropic({ baseURL: url.replace(/\/v1$/, ""), apiKey: token, maxRetries: 0 });
    const m = await anthropic.messages.create({ model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "hi" }] });
    assert.equal(m.role, "assistant");
    const badAnthropic = new Anthropic({ baseURL: url.replace(/\/v1$/, ""), apiKey: "nope-nope-nope", maxRetries: 0 });
    await assert.rejects(
      badAnthropic.messages.create({ model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
      (e: unknown) => (e as { status?: number }).status === 401,
    );

    assert.equal(proxy.resource().apiKey, token, "published resources carry the key agents must send");
  } finally {
    await proxy.close();
  }
});

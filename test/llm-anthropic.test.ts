// Anthropic's Messages API through the proxy with the real `@anthropic-ai/sdk`
// client: text and tool_use replies, tool_result turns, system prompts, stop
// reasons, streaming events as Anthropic sends them, errors in Anthropic's
// shape. Served by a test-only scripted policy (test/helpers/scripted-policy.ts)
// so the model's text is known, and once by a real tiny native policy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { ScriptedPolicy, chatmlBytes as tokenizer } from "./helpers/scripted-policy.js";

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
let policy: ScriptedPolicy;
before(async () => {
  store = await agl.openStore();
  policy = new ScriptedPolicy();
  proxy = await agl.llm.startLlmProxy({ store, backend: new agl.llm.PolicyBackend({ policy, tokenizer, model: "tiny" }) });
});
after(() => proxy.close());

const calc: Anthropic.Tool = {
  name: "calc",
  description: "Evaluate arithmetic",
  input_schema: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] },
};

async function attempt() {
  const ar = await store.startRollout({ input: null });
  // The SDK appends /v1/messages to its base URL.
  return {
    ar,
    client: new Anthropic({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId).replace(/\/v1$/, ""), maxRetries: 0 }),
  };
}

test("a text reply is a Message with a text block, end_turn, usage and the system prompt rendered first", { timeout: 30_000 }, async () => {
  const { ar, client } = await attempt();
  policy.replies.push("Hello there.");
  const m = await client.messages.create({
    model: "tiny",
    max_tokens: 64,
    system: "Be nice.",
    messages: [{ role: "user", content: "hi" }],
  });
  assert.equal(m.type, "message");
  assert.equal(m.role, "assistant");
  assert.match(m.id, /^msg_/);
  assert.deepEqual(m.content, [{ type: "text", text: "Hello there." }]);
  assert.equal(m.stop_reason, "end_turn");
  assert.equal(m.stop_sequence, null);
  assert.equal(m.usage.output_tokens, "Hello there.".length + 1);
  assert.equal(
    tokenizer.decode(policy.prompts.at(-1)!),
    "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  );
  const [t] = agl.spansToTriplets(await store.querySpans({ rolloutId: ar.rolloutId }));
  assert.deepEqual(t.prompt.tokenIds, policy.prompts.at(-1));
  policy.replies.push("a b STOP c");
  const stopped = await client.messages.create({
    model: "tiny",
    max_tokens: 64,
    stop_sequences: ["STOP"],
    system: [{ type: "text", text: "S" }],
    messages: [{ role: "user", content: [{ type: "text", text: "go" }] }],
  });
  assert.equal(stopped.stop_reason, "stop_sequence");
  assert.equal(stopped.stop_sequence, "STOP");
  assert.deepEqual(stopped.content, [{ type: "text", text: "a b " }]);
  policy.replies.push("long reply");
  const cut = await client.messages.create({ model: "tiny", max_tokens: 3, messages: [{ role: "user", content: "go" }] });
  assert.equal(cut.stop_reason, "max_tokens");
});

test("tool_use blocks come back from <tool_call> replies, and tool_result turns reach the model as <tool_response>", {
  timeout: 30_000,
}, async () => {
  const { ar, client } = await attempt();
  policy.replies.push('I will compute.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "6*7"}}\n</tool_call>', "It is 42.");
  const messages: Anthropic.MessageParam[] = [{ role: "user", content: "6*7?" }];
  const m = await client.messages.create({ model: "tiny", max_tokens: 128, tools: [calc], messages });
  assert.equal(m.stop_reason, "tool_use");
  assert.equal(m.content.length, 2);
  assert.deepEqual(m.content[0], { type: "text", text: "I will compute." });
  const use = m.content[1] as Anthropic.ToolUseBlock;
  assert.equal(use.type, "tool_use");
  assert.match(use.id, /^toolu_/);
  assert.equal(use.name, "calc");
  assert.deepEqual(use.input, { expression: "6*7" });
  messages.push(
    { role: "assistant", content: m.content },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: use.id, content: "42" },
        { type: "text", text: "and?" },
      ],
    },
  );
  const m2 = await client.messages.create({ model: "tiny", max_tokens: 128, tools: [calc], messages });
  assert.deepEqual(m2.content, [{ type: "text", text: "It is 42." }]);
  const prompt = tokenizer.decode(policy.prompts.at(-1)!);
  assert.match(
    prompt,
    /<tools>\n\{"type": "function", "function": \{"name": "calc", "description": "Evaluate arithmetic", "parameters": \{"type": "object"/,
  );
  assert.match(
    prompt,
    /<\|im_start\|>user\n<tool_response>\n42\n<\/tool_response><\|im_end\|>\n<\|im_start\|>user\nand\?<\|im_end\|>\n<\|im_start\|>assistant\n$/,
  );
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 2);
  const [p1, p2] = policy.prompts.slice(-2);
  const r1 = spans[0].attributes["gen_ai.completion.token_ids"] as number[];
  assert.deepEqual(p2.slice(0, p1.length + r1.length), [...p1, ...r1], "the second turn reuses the first call's exact ids");
  // tool_choice any / tool force a call
  policy.replies.push('calc", "arguments": {"expression": "1"}}\n</tool_call>');
  const forced = await client.messages.create({
    model: "tiny",
    max_tokens: 64,
    tools: [calc],
    tool_choice: { type: "any" },
    messages: [{ role: "user", content: "x" }],
  });
  assert.equal(forced.stop_reason, "tool_use");
});

test("streaming sends Anthropic's events in order, and the SDK's stream helper assembles text and tool input", {
  timeout: 30_000,
}, async () => {
  const { client } = await attempt();
  policy.replies.push('Sure.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "123456789*987654321"}}\n</tool_call>');
  const events: string[] = [];
  const raw = await client.messages.create({
    model: "tiny",
    max_tokens: 256,
    tools: [calc],
    stream: true,
    messages: [{ role: "user", content: "big" }],
  });
  let json = "";
  let text = "";
  for await (const e of raw) {
    events.push(e.type);
    if (e.type === "content_block_delta" && e.delta.type === "input_json_delta") json += e.delta.partial_json;
    if (e.type === "content_block_delta" && e.delta.type === "text_delta") text += e.delta.text;
    if (e.type === "message_delta") assert.equal(e.delta.stop_reason, "tool_use");
  }
  assert.equal(events[0], "message_start");
  assert.deepEqual(events.slice(-2), ["message_delta", "message_stop"]);
  assert.equal(events.filter((e) => e === "content_block_start").length, 2);
  assert.equal(events.filter((e) => e === "content_block_stop").length, 2);
  assert.equal(text, "Sure.");
  assert.deepEqual(JSON.parse(json), { expression: "123456789*987654321" });
  policy.replies.push('<tool_call>\n{"name": "calc", "arguments": {"expression": "2"}}\n</tool_call>');
  const final = await client.messages
    .stream({ model: "tiny", max_tokens: 256, tools: [calc], messages: [{ role: "user", content: "x" }] })
    .finalMessage();
  assert.equal(final.stop_reason, "tool_use");
  assert.deepEqual((final.content[0] as Anthropic.ToolUseBlock).input, { expression: "2" });
  policy.replies.push("plain text");
  const plain = await client.messages.stream({ model: "tiny", max_tokens: 64, messages: [{ role: "user", content: "x" }] }).finalMessage();
  assert.deepEqual(plain.content, [{ type: "text", text: "plain text" }]);
});

test("bad Messages requests get Anthropic-shaped 4xx errors naming the field", { timeout: 30_000 }, async () => {
  const client = new Anthropic({ apiKey: "x", baseURL: proxy.url.replace(/\/v1$/, ""), maxRetries: 0 });
  const refuse = async (body: Record<string, unknown>, status: number, re: RegExp) => {
    await assert.rejects(
      client.messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming),
      (e: InstanceType<typeof Anthropic.APIError>) => {
        assert.equal(e.status, status);
        assert.match(e.message, re);
        return true;
      },
    );
  };
  const base = { model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "x" }] };
  await refuse(
    { ...base, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "" } }] }] },
    400,
    /image/,
  );
  await refuse({ ...base, thinking: { type: "enabled", budget_tokens: 1024 } }, 400, /thinking/);
  await refuse({ model: "tiny", messages: base.messages }, 400, /max_tokens/);
  await refuse({ ...base, model: "claude-9" }, 404, /claude-9/);
  await refuse({ ...base, tools: [calc], tool_choice: { type: "tool", name: "nope" } }, 400, /tool_choice/);
  const r = await fetch(`${proxy.url}/messages`, { method: "POST", body: JSON.stringify({ ...base, temperature: 5 }) });
  assert.equal(r.status, 400);
  const body = (await r.json()) as { type: string; error: { type: string; message: string } };
  assert.equal(body.type, "error");
  assert.equal(body.error.type, "invalid_request_error");
  assert.match(body.error.message, /temperature/);
});

test("a real tiny native policy answers the Messages API, streamed and not", { timeout: 60_000 }, async () => {
  const native = await agl.native.Policy.create({
    family: "qwen2",
    layers: 1,
    dModel: 16,
    heads: 2,
    kvHeads: 1,
    vocab: tokenizer.vocabSize,
    ctx: 1024,
    seed: 6,
  });
  const p = await agl.llm.startLlmProxy({ backend: new agl.llm.PolicyBackend({ policy: native, tokenizer, model: "tiny" }) });
  try {
    const client = new Anthropic({ apiKey: "x", baseURL: p.url.replace(/\/v1$/, ""), maxRetries: 0 });
    const m = await client.messages.create({ model: "tiny", max_tokens: 16, tools: [calc], messages: [{ role: "user", content: "2+3?" }] });
    assert.ok(["end_turn", "max_tokens", "tool_use"].includes(m.stop_reason ?? ""));
    const s = await client.messages.stream({ model: "tiny", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }).finalMessage();
    assert.equal(s.content[0].type, "text");
  } finally {
    await p.close();
  }
});

test("every Messages API shape reaches the model: random conversations render as their chat turns", { timeout: 60_000 }, async () => {
  const template = agl.tokenizer.builtinTemplate("chatml");
  const text = fc.string({ maxLength: 10 }).filter((s) => !s.includes("<|"));
  const textBlock = text.map((t) => ({ type: "text" as const, text: t }));
  const useBlock = fc.record({
    type: fc.constant("tool_use" as const),
    id: fc.string({ minLength: 1, maxLength: 4 }),
    name: fc.constant("calc"),
    input: fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
  });
  const resultBlock = fc.record({
    type: fc.constant("tool_result" as const),
    tool_use_id: fc.string({ minLength: 1, maxLength: 4 }),
    content: fc.oneof(text, fc.array(textBlock, { maxLength: 2 })),
    is_error: fc.boolean(),
  });
  const user = fc.record({
    role: fc.constant("user" as const),
    content: fc.oneof(text, fc.array(fc.oneof(textBlock, resultBlock), { minLength: 1, maxLength: 3 })),
  });
  const assistant = fc.record({
    role: fc.constant("assistant" as const),
    content: fc.oneof(text, fc.array(fc.oneof(textBlock, useBlock), { minLength: 1, maxLength: 3 })),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(user, assistant), { minLength: 1, maxLength: 4 }),
      fc.option(text, { nil: undefined }),
      async (messages, system) => {
        const r = await fetch(`${proxy.url}/messages`, {
          method: "POST",
          body: JSON.stringify({ model: "tiny", max_tokens: 2, messages, tools: [calc], ...(system !== undefined ? { system } : {}) }),
        });
        assert.equal(r.status, 200, await r.clone().text());
        await r.json();
        // The mapping, written out independently of the proxy's: tool results first as tool turns, then the text.
        const turns: agl.tokenizer.ChatTurn[] = system ? [{ role: "system", content: system }] : [];
        for (const m of messages) {
          if (typeof m.content === "string") turns.push({ role: m.role, content: m.content });
          else if (m.role === "assistant") {
            const blocks = m.content as (
              | { type: "text"; text: string }
              | { type: "tool_use"; id: string; name: string; input: Record<string, number> }
            )[];
            const calls = blocks.flatMap((b) =>
              b.type === "tool_use"
                ? [{ id: b.id, type: "function" as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }]
                : [],
            );
            turns.push({
              role: "assistant",
              content: blocks.flatMap((b) => (b.type === "text" ? [b.text] : [])).join("\n"),
              ...(calls.length ? { tool_calls: calls } : {}),
            });
          } else {
            const blocks = m.content as (
              | { type: "text"; text: string }
              | { type: "tool_result"; tool_use_id: string; content: string | { text: string }[]; is_error: boolean }
            )[];
            for (const b of blocks) {
              if (b.type !== "tool_result") continue;
              const c = typeof b.content === "string" ? b.content : b.content.map((x) => x.text).join("\n");
              turns.push({ role: "tool", content: b.is_error ? `Error: ${c}` : c, tool_call_id: b.tool_use_id });
            }
            const texts = blocks.flatMap((b) => (b.type === "text" ? [b.text] : []));
            if (texts.length) turns.push({ role: "user", content: texts.join("\n") });
          }
        }
        const tools = [
          {
            type: "function" as const,
            function: { name: "calc", description: calc.description, parameters: calc.input_schema as Record<string, unknown> },
          },
        ];
        assert.equal(tokenizer.decode(policy.prompts.at(-1)!), template.render(turns, { tools, addGenerationPrompt: true }));
      },
    ),
    { numRuns: 60, seed: 7 },
  );
});

// Tool calls through the proxy, end to end with the real `openai` client:
// templates render tools (the built-in one equals Qwen2.5's own Jinja
// template), replies' <tool_call> blocks become tool_calls (streamed as OpenAI
// streams them), a conversation's next prompt reuses the exact ids the model
// saw and wrote, and malformed tool-call output stays text. To control what
// the model writes, most tests serve a test-only scripted generator that
// implements the policy interface (GeneratorLike) and replies with given text
// as byte-tokenizer ids; one test serves a real tiny native policy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { ArithmeticTokenizer } from "../src/examples/arithmetic-tokenizer.js";
import { ScriptedPolicy as Scripted, chatmlBytes } from "./helpers/scripted-policy.js";

const QWEN25 = readFileSync(new URL("./fixtures/templates/qwen2.5-instruct.jinja", import.meta.url), "utf8");
const QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
const tokenizer = chatmlBytes;

const calc: OpenAI.ChatCompletionTool = {
  type: "function",
  function: {
    name: "calc",
    description: "Evaluate an arithmetic expression",
    parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] },
  },
};

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
let policy: Scripted;
before(async () => {
  store = await agl.openStore();
  policy = new Scripted();
  proxy = await agl.llm.startLlmProxy({ store, backend: new agl.llm.PolicyBackend({ policy, tokenizer, model: "tiny" }) });
});
after(() => proxy.close());

const attempt = async () => {
  const ar = await store.startRollout({ input: null });
  return { ar, client: new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId) }) };
};

test("the built-in ChatML template renders tools, tool calls and tool results exactly as Qwen2.5's own Jinja template", () => {
  const jinja = new agl.tokenizer.JinjaChatTemplate(QWEN25);
  const builtin = agl.tokenizer.builtinTemplate("chatml", QWEN_SYSTEM);
  const tools = [
    calc as agl.tokenizer.ToolSpec,
    {
      type: "function" as const,
      function: { name: "search", parameters: { type: "object", properties: { q: { type: "string", description: "naïve 🚀" } } } },
    },
  ];
  const call = (id: string, args: string): agl.tokenizer.ToolCall => ({
    id,
    type: "function",
    function: { name: "calc", arguments: args },
  });
  const conversations: agl.tokenizer.ChatTurn[][] = [
    [{ role: "user", content: "2+3?" }],
    [
      { role: "system", content: "Be brief." },
      { role: "user", content: "2+3?" },
      { role: "assistant", content: "", tool_calls: [call("a", '{"expression":"2+3"}')] },
      { role: "tool", content: "5", tool_call_id: "a" },
    ],
    [
      { role: "user", content: "two sums" },
      {
        role: "assistant",
        content: "Let me compute.",
        tool_calls: [call("a", '{"expression": "1+1"}'), call("b", '{"expression":"2*2","x":[1,2.5,null,true]}')],
      },
      { role: "tool", content: "2", tool_call_id: "a" },
      { role: "tool", content: "4", tool_call_id: "b" },
      { role: "assistant", content: "2 and 4" },
      { role: "user", content: "thanks" },
    ],
  ];
  for (const msgs of conversations)
    for (const t of [tools, undefined])
      for (const gen of [true, false])
        assert.equal(
          builtin.render(msgs, { tools: t, addGenerationPrompt: gen }),
          jinja.render(msgs, { tools: t, addGenerationPrompt: gen }),
        );
  assert.equal(jinja.toolCallSyntax, "hermes");
  const text = jinja.render(conversations[1], { tools });
  assert.match(text, /<tools>\n\{"type": "function", "function": \{"name": "calc"/);
  assert.match(text, /<tool_call>\n\{"name": "calc", "arguments": \{"expression": "2\+3"\}\}\n<\/tool_call><\|im_end\|>/);
  assert.match(text, /<\|im_start\|>user\n<tool_response>\n5\n<\/tool_response><\|im_end\|>/);
});

test("a model directory's tokenizer_config.json chat template is loaded, and its refusals are validation errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-template-"));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: QWEN25, eos_token: "<|im_end|>" }));
  const t = agl.tokenizer.JinjaChatTemplate.fromModelDir(dir);
  assert.ok(t);
  assert.equal(
    t.render([{ role: "user", content: "hi" }], { addGenerationPrompt: true }),
    `<|im_start|>system\n${QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n`,
  );
  assert.equal(agl.tokenizer.JinjaChatTemplate.fromModelDir(join(dir, "missing")), null);
  const strict = new agl.tokenizer.JinjaChatTemplate(
    "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content }}",
  );
  assert.equal(strict.toolCallSyntax, null, "a template that writes no <tool_call> serves no tools");
  assert.throws(
    () => strict.render([{ role: "system", content: "x" }]),
    (e: Error) => e instanceof agl.types.ValidationError && /first must be user/.test(e.message),
  );
  assert.throws(() => new agl.tokenizer.JinjaChatTemplate("{% if %}"), /does not parse/);
});

test("a tool call in the reply comes back as message.tool_calls with finish_reason tool_calls, and the next turn reuses the exact ids", {
  timeout: 30_000,
}, async () => {
  const { ar, client } = await attempt();
  // The model writes compact JSON; the template writes Python-style spacing when it renders the call back.
  policy.replies.push('<tool_call>\n{"name":"calc","arguments":{"expression":"2+3"}}\n</tool_call>', "The answer is 5.");
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is 2+3?" }];
  const first = await client.chat.completions.create({ model: "tiny", messages, tools: [calc] });
  const c0 = first.choices[0];
  assert.equal(c0.finish_reason, "tool_calls");
  assert.equal(c0.message.content, null);
  assert.equal(c0.message.tool_calls?.length, 1);
  const call = c0.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.type, "function");
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, "calc");
  assert.deepEqual(JSON.parse(call.function.arguments), { expression: "2+3" });
  messages.push(c0.message, { role: "tool", tool_call_id: call.id, content: "5" });
  const second = await client.chat.completions.create({ model: "tiny", messages, tools: [calc] });
  assert.equal(second.choices[0].message.content, "The answer is 5.");
  assert.equal(second.choices[0].finish_reason, "stop");

  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 2);
  const [p1, p2] = policy.prompts.slice(-2);
  const r1 = spans[0].attributes["gen_ai.completion.token_ids"] as number[];
  assert.deepEqual(
    p2.slice(0, p1.length + r1.length),
    [...p1, ...r1],
    "the second prompt starts with the first prompt and the model's own reply ids",
  );
  assert.equal(tokenizer.decode(r1), '<tool_call>\n{"name":"calc","arguments":{"expression":"2+3"}}\n</tool_call><|im_end|>');
  assert.equal(spans[1].attributes["arclight.llm.prompt_reused_tokens"], p1.length + r1.length);
  assert.equal(spans[1].attributes["arclight.llm.retokenization_drift"], true, "re-rendering the call would have changed the ids");
  assert.match(tokenizer.decode(p2), /<tool_response>\n5\n<\/tool_response><\|im_end\|>\n<\|im_start\|>assistant\n$/);
  const out = JSON.parse(spans[0].attributes["gen_ai.output.messages"] as string);
  assert.equal(out[0].tool_calls[0].function.name, "calc");
  assert.match(String(spans[0].attributes["gen_ai.tool.definitions"]), /"calc"/);
  const triplets = agl.spansToTriplets(await store.querySpans({ rolloutId: ar.rolloutId }));
  assert.equal(triplets.length, 2);
  assert.deepEqual(triplets[1].prompt.tokenIds, p2);
});

test("streamed tool calls arrive as OpenAI's deltas: id and name first, then the arguments in pieces", { timeout: 30_000 }, async () => {
  const { client } = await attempt();
  policy.replies.push(
    'Checking.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "12345679*8"}}\n</tool_call>\n<tool_call>\n{"name": "calc", "arguments": {"expression": "1"}}\n</tool_call>',
  );
  const stream = await client.chat.completions.create({
    model: "tiny",
    stream: true,
    messages: [{ role: "user", content: "big" }],
    tools: [calc],
  });
  const calls: { id?: string; name: string; args: string }[] = [];
  let content = "";
  let finish: string | null = null;
  let argChunks = 0;
  let first = true;
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (first) assert.equal(d?.role, "assistant");
    first = false;
    content += d?.content ?? "";
    for (const t of d?.tool_calls ?? []) {
      if (t.id) {
        assert.equal(t.function?.arguments, "", "a call's first delta carries no arguments yet");
        assert.equal(t.type, "function");
        calls[t.index] = { id: t.id, name: t.function?.name ?? "", args: "" };
      } else {
        calls[t.index].args += t.function?.arguments ?? "";
        argChunks++;
      }
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(content, "Checking.");
  assert.equal(finish, "tool_calls");
  assert.equal(calls.length, 2);
  assert.deepEqual(
    calls.map((c) => [c.name, JSON.parse(c.args)]),
    [
      ["calc", { expression: "12345679*8" }],
      ["calc", { expression: "1" }],
    ],
  );
  assert.ok(argChunks >= 3, "arguments come in several pieces");
  // The SDK's own accumulator agrees.
  policy.replies.push('<tool_call>\n{"name": "calc", "arguments": {"expression": "7"}}\n</tool_call>');
  const runner = client.chat.completions.stream({ model: "tiny", messages: [{ role: "user", content: "x" }], tools: [calc] });
  const final = await runner.finalChatCompletion();
  assert.equal(
    (final.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments,
    '{"expression":"7"}',
  );
});

test("malformed tool-call output is returned as text content with finish_reason stop, and recorded with the reason", {
  timeout: 30_000,
}, async () => {
  const { ar, client } = await attempt();
  const bad = [
    '<tool_call>\n{"name": "calc", "arguments": {expression: 2+3}}\n</tool_call>',
    '<tool_call>\n{"name": "calc", "arguments": {"expression": "1"}}',
    '<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": "calc", "arguments": "2+3"}\n</tool_call>',
  ];
  for (const text of bad) {
    policy.replies.push(text);
    const r: OpenAI.ChatCompletion = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "go" }],
      tools: [calc],
    });
    assert.equal(r.choices[0].message.content, text);
    assert.equal(r.choices[0].message.tool_calls, undefined);
    assert.equal(r.choices[0].finish_reason, "stop");
  }
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  const reasons = spans.map((s) => JSON.parse(s.attributes["gen_ai.output.messages"] as string)[0].tool_call_error as string);
  assert.match(reasons[0], /not JSON/);
  assert.match(reasons[1], /no <\/tool_call>/);
  assert.match(reasons[2], /not an offered tool/);
  assert.match(reasons[3], /must be a JSON object/);
  // tool_choice "none": markup is not parsed at all
  policy.replies.push('<tool_call>\n{"name": "calc", "arguments": {}}\n</tool_call>');
  const none = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "go" }],
    tools: [calc],
    tool_choice: "none",
  });
  assert.equal(none.choices[0].message.tool_calls, undefined);
});

test("tool_choice required or named makes the model continue a tool call; parallel_tool_calls false keeps one", {
  timeout: 30_000,
}, async () => {
  const { client } = await attempt();
  policy.replies.push('{"expression": "9-1"}}\n</tool_call>');
  const named = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "go" }],
    tools: [calc],
    tool_choice: { type: "function", function: { name: "calc" } },
  });
  assert.ok(
    tokenizer.decode(policy.prompts.at(-1)!).endsWith('<|im_start|>assistant\n<tool_call>\n{"name": "calc", "arguments": '),
    "the prompt ends inside the forced call",
  );
  assert.deepEqual(
    JSON.parse((named.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments),
    { expression: "9-1" },
  );
  policy.replies.push('calc", "arguments": {"expression": "0"}}\n</tool_call>');
  const required = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "go" }],
    tools: [calc],
    tool_choice: "required",
  });
  assert.equal(required.choices[0].finish_reason, "tool_calls");
  const two =
    '<tool_call>\n{"name": "calc", "arguments": {"expression": "1"}}\n</tool_call>\n<tool_call>\n{"name": "calc", "arguments": {"expression": "2"}}\n</tool_call>';
  policy.replies.push(two);
  const single = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "go" }],
    tools: [calc],
    parallel_tool_calls: false,
  });
  assert.equal(single.choices[0].message.tool_calls?.length, 1);
  assert.equal(
    tokenizer.decode((single.choices[0] as unknown as { token_ids: number[] }).token_ids),
    two.slice(0, two.indexOf("</tool_call>") + 12),
    "the reply's ids end with the first call",
  );
});

test("fields the native backend cannot honour get a 400 naming them; nothing is dropped silently", { timeout: 30_000 }, async () => {
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.url, maxRetries: 0 });
  const base = { model: "tiny", messages: [{ role: "user" as const, content: "x" }] };
  const refuse = async (extra: Record<string, unknown>, param: RegExp) => {
    await assert.rejects(
      client.chat.completions.create({ ...base, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming),
      (e: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(e.status, 400);
        assert.match(e.message, param);
        return true;
      },
    );
  };
  await refuse({ response_format: { type: "json_object" } }, /response_format/);
  await refuse({ frequency_penalty: 0.5 }, /frequency_penalty/);
  await refuse({ top_logprobs: 3, logprobs: true }, /top_logprobs/);
  await refuse({ functions: [{ name: "f" }] }, /functions/);
  await refuse({ my_vendor_field: 1 }, /my_vendor_field/);
  await refuse({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }] }, /image_url/);
  await refuse({ tools: [calc], tool_choice: { type: "function", function: { name: "nope" } } }, /tool_choice/);
  await refuse({ tool_choice: "required" }, /tool_choice/);
  await refuse({ messages: [{ role: "tool", content: "5" }] }, /tool_call_id/);
  // neutral values of the same fields are fine, and multi-part text is joined
  policy.replies.push("fine");
  const ok = await client.chat.completions.create({
    ...base,
    frequency_penalty: 0,
    response_format: { type: "text" },
    logit_bias: {},
    store: false,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
    ],
  });
  assert.equal(ok.choices[0].message.content, "fine");
  assert.match(tokenizer.decode(policy.prompts.at(-1)!), /user\nab<\|im_end\|>/);
  // a tokenizer whose template cannot render tools refuses them
  const arith = await agl.llm.startLlmProxy({
    backend: new agl.llm.PolicyBackend({
      policy: { config: { ctx: 8 }, generate: async () => ({ tokens: [[1]], logprobs: [[0]] }) },
      tokenizer: new ArithmeticTokenizer(),
      model: "arith",
    }),
  });
  try {
    const r = await fetch(`${arith.url}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "arith", messages: [{ role: "user", content: "1+1=" }], tools: [calc] }),
    });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /cannot render tools/);
  } finally {
    await arith.close();
  }
});

test("a real tiny native policy serves a tool request over the byte-level tokenizer, whatever it writes", { timeout: 60_000 }, async () => {
  const s = await agl.openStore();
  const native = await agl.native.Policy.create({
    family: "qwen2",
    layers: 1,
    dModel: 16,
    heads: 2,
    kvHeads: 1,
    vocab: tokenizer.vocabSize,
    ctx: 1024,
    seed: 4,
  });
  const p = await agl.llm.startLlmProxy({ store: s, backend: new agl.llm.PolicyBackend({ policy: native, tokenizer, model: "tiny" }) });
  try {
    const ar = await s.startRollout({ input: null });
    const client = new OpenAI({ apiKey: "x", baseURL: p.urlFor(ar.rolloutId, ar.attempt.attemptId) });
    for (const stream of [false, true]) {
      const r: OpenAI.ChatCompletion | AsyncIterable<unknown> = await client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "2+3?" }],
        tools: [calc],
        max_tokens: 24,
        seed: 1,
        stream,
      });
      if (!stream) assert.ok(["stop", "length", "tool_calls"].includes((r as OpenAI.ChatCompletion).choices[0].finish_reason));
      else for await (const _ of r as AsyncIterable<unknown>);
    }
    const [t] = agl.spansToTriplets(await s.querySpans({ rolloutId: ar.rolloutId }));
    assert.match(tokenizer.decode(t.prompt.tokenIds!), /<tools>\n\{"type": "function", "function": \{"name": "calc"/);
    assert.ok(t.response.tokenIds!.length > 0);
    assert.equal(t.response.logprobs?.length, t.response.tokenIds!.length);
  } finally {
    await p.close();
  }
});

test("tool-call markup round-trips through the parser for any arguments, and any reply text parses without throwing", () => {
  const tools = [calc as agl.tokenizer.ToolSpec];
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      fc.string({ maxLength: 20 }),
      (args, before) => {
        const block = agl.tokenizer
          .renderChat("plain", [
            {
              role: "assistant",
              content: "",
              tool_calls: [{ id: "x", type: "function", function: { name: "calc", arguments: JSON.stringify(args) } }],
            },
          ])
          .slice("assistant: ".length, -1);
        const parsed = agl.llm.parseToolCalls(`${before.replaceAll("<tool_call>", "")}${block}`, tools);
        assert.ok(parsed && "toolCalls" in parsed, JSON.stringify(parsed));
        assert.deepEqual(JSON.parse(parsed.toolCalls[0].function.arguments), JSON.parse(JSON.stringify(args)));
      },
    ),
    { numRuns: 200, seed: 3 },
  );
  fc.assert(
    fc.property(
      fc.string({ maxLength: 60 }).map((s) => `<tool_call>${s}`),
      (t) => void agl.llm.parseToolCalls(t, tools),
    ),
    { numRuns: 200, seed: 4 },
  );
});

test("every OpenAI message shape reaches the model: random conversations render exactly as the template renders their turns", {
  timeout: 60_000,
}, async () => {
  const template = agl.tokenizer.builtinTemplate("chatml");
  const text = fc.string({ maxLength: 12 }).filter((s) => !s.includes("<|"));
  const call = fc.record({
    id: fc.string({ minLength: 1, maxLength: 5 }),
    type: fc.constant("function" as const),
    function: fc.record({
      name: fc.constant("calc"),
      arguments: fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }).map((o) => JSON.stringify(o)),
    }),
  });
  const msg = fc.oneof(
    fc.record({
      role: fc.constantFrom("system" as const, "user" as const, "developer" as const),
      content: fc.oneof(
        text,
        fc.array(
          text.map((t) => ({ type: "text" as const, text: t })),
          { minLength: 1, maxLength: 2 },
        ),
      ),
    }),
    fc.record({
      role: fc.constant("assistant" as const),
      content: fc.option(text, { nil: null }),
      tool_calls: fc.array(call, { maxLength: 2 }),
    }),
    // LangChain.js sends the tool's name on tool messages
    fc.record(
      {
        role: fc.constant("tool" as const),
        content: text,
        tool_call_id: fc.string({ minLength: 1, maxLength: 4 }),
        name: fc.constant("calc"),
      },
      { requiredKeys: ["role", "content", "tool_call_id"] },
    ),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(msg, { minLength: 1, maxLength: 5 }), fc.boolean(), async (messages, withTools) => {
      const r = await fetch(`${proxy.url}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "tiny", messages, max_tokens: 2, ...(withTools ? { tools: [calc] } : {}) }),
      });
      assert.equal(r.status, 200, await r.clone().text());
      await r.json();
      const turns: agl.tokenizer.ChatTurn[] = messages.map((m) => {
        const content = typeof m.content === "string" ? m.content : m.content === null ? "" : m.content.map((p) => p.text).join("");
        if (m.role === "assistant") return { role: "assistant", content, ...(m.tool_calls.length ? { tool_calls: m.tool_calls } : {}) };
        if (m.role === "tool") return { role: "tool", content, tool_call_id: m.tool_call_id };
        return { role: m.role === "developer" ? "system" : m.role, content };
      });
      const expected = template.render(turns, {
        tools: withTools ? [calc as agl.tokenizer.ToolSpec] : undefined,
        addGenerationPrompt: true,
      });
      // replies remembered from earlier runs may be reused verbatim; the text is the same either way
      assert.equal(tokenizer.decode(policy.prompts.at(-1)!), expected);
    }),
    { numRuns: 60, seed: 5 },
  );
});

test("PolicyBackend.fromModelDir serves a model directory's tokenizer and renders its own Jinja chat template, tools included", {
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-modeldir-"));
  writeFileSync(join(dir, "tokenizer.json"), readFileSync(new URL("./fixtures/tokenizer/tiny-gpt2/tokenizer.json", import.meta.url)));
  // A template of the model's own (not the built-in): it lists tools by name and marks calls Hermes-style.
  // (HF renders chat templates with trim_blocks, so newlines after block tags are written as {{ "\n" }})
  const own =
    '{% if tools %}TOOLS:{% for t in tools %} {{ t.function.name }}{% endfor %}{{ "\\n" }}{% endif %}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}{% endif %}{{ "\\n" }}{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}';
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: own, eos_token: "<|endoftext|>" }));
  const seen: number[][] = [];
  const echo: agl.llm.GeneratorLike = { config: { ctx: 512 }, generate: async (p) => (seen.push(p[0]), { tokens: [[]], logprobs: [[]] }) };
  const backend = agl.llm.PolicyBackend.fromModelDir(dir, { policy: echo, model: "m" });
  const tok = agl.tokenizer.BpeTokenizer.fromFile(join(dir, "tokenizer.json"));
  const p = await agl.llm.startLlmProxy({ backend });
  try {
    const client = new OpenAI({ apiKey: "x", baseURL: p.url, maxRetries: 0 });
    await client.chat.completions.create({
      model: "m",
      tools: [calc],
      max_tokens: 1,
      messages: [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "a", type: "function", function: { name: "calc", arguments: '{"expression":"1"}' } }],
        },
        { role: "tool", tool_call_id: "a", content: "1" },
      ],
    });
    assert.equal(
      tok.decode(seen[0]),
      '[user] hi\n[assistant] <tool_call>{"name": "calc", "arguments": {"expression": "1"}}</tool_call>\n[tool] 1\n[assistant] '.replace(
        /^/,
        "TOOLS: calc\n",
      ),
    );
  } finally {
    await p.close();
  }
  assert.throws(() => agl.llm.PolicyBackend.fromModelDir(join(dir, "nope"), { policy: echo, model: "m" }), /cannot read/);
});

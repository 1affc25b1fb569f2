// OpenAI's Responses API through the proxy with the real `openai` client:
// message and function_call output items, input items rendered as chat turns,
// tool-call round trips, streaming events as OpenAI sends them, 400s naming
// what the native backend cannot honour, no 500 for any JSON body, an
// upstream served through chat completions, and an `@openai/agents` Agent on
// the SDK's default model (OpenAIResponsesModel) whose calls become the
// rollout's LLM-call spans. Served by the scripted policy (known text) and by
// a warm-started calculator policy that really calls its tool.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import fc from "fast-check";
import * as agl from "../src/index.js";
import { ScriptedPolicy, chatmlBytes as tokenizer } from "./helpers/scripted-policy.js";
import { startFakeOpenAI } from "./helpers/fake-openai.js";
import { rollout, type Agent } from "../src/runner/agent.js";
import { emitReward } from "../src/tracer/index.js";
import { ToolTaskTokenizer } from "../src/examples/tool-agent-tokenizer.js";
import {
  CALCULATE_DESCRIPTION,
  calculate,
  calculatorPolicyConfig,
  calculatorTasks,
  llmOf,
  question,
  sampling,
  scoreCalc,
  warmStart,
  type CalcTask,
} from "../src/examples/tool-agent.js";

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
let policy: ScriptedPolicy;
before(async () => {
  store = await agl.openStore();
  policy = new ScriptedPolicy();
  proxy = await agl.llm.startLlmProxy({ store, backend: new agl.llm.PolicyBackend({ policy, tokenizer, model: "tiny" }) });
});
after(() => proxy.close());

const calc: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "calc",
  description: "Evaluate arithmetic",
  parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] },
  strict: false,
};
/** The same tool as the chat template sees it. */
const calcSpec = {
  type: "function" as const,
  function: { name: "calc", description: calc.description!, parameters: calc.parameters!, strict: false },
};
const template = agl.tokenizer.builtinTemplate("chatml");

async function attempt() {
  const ar = await store.startRollout({ input: null });
  return { ar, client: new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId), maxRetries: 0 }) };
}

const post = (body: unknown, url = `${proxy.url}/responses`) =>
  fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

test("a text reply is a Response with one message item; instructions render first; the call is an LLM span with token ids", {
  timeout: 30_000,
}, async () => {
  const { ar, client } = await attempt();
  policy.replies.push("Hello there.");
  const r = await client.responses.create({
    model: "tiny",
    instructions: "Be nice.",
    input: "hi",
    temperature: 0.5,
    max_output_tokens: 64,
  });
  assert.equal(r.object, "response");
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, "completed");
  assert.equal(r.output.length, 1);
  const m = r.output[0] as OpenAI.Responses.ResponseOutputMessage;
  assert.equal(m.type, "message");
  assert.equal(m.role, "assistant");
  assert.match(m.id, /^msg_/);
  assert.deepEqual(m.content, [{ type: "output_text", text: "Hello there.", annotations: [], logprobs: [] }]);
  assert.equal(r.output_text, "Hello there.");
  assert.equal(r.instructions, "Be nice.");
  assert.equal(r.temperature, 0.5);
  assert.equal(r.usage?.output_tokens, "Hello there.".length + 1);
  assert.equal(r.usage?.input_tokens, policy.prompts.at(-1)!.length);
  assert.equal(
    tokenizer.decode(policy.prompts.at(-1)!),
    "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  );
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 1);
  assert.equal(spans[0].attributes["gen_ai.request.temperature"], 0.5);
  const [t] = agl.spansToTriplets(spans);
  assert.deepEqual(t.prompt.tokenIds, policy.prompts.at(-1));
  assert.deepEqual(t.response.tokenIds, [...tokenizer.encode("Hello there."), tokenizer.imEndId]);
  assert.equal(t.response.logprobs?.length, t.response.tokenIds.length);
  // include asks for per-token logprobs; a cut reply is incomplete with its reason
  policy.replies.push("ab");
  const lp = await client.responses.create({ model: "tiny", input: "x", include: ["message.output_text.logprobs"] });
  const part = (lp.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0] as OpenAI.Responses.ResponseOutputText;
  assert.deepEqual(
    part.logprobs?.map((l) => [l.token, l.bytes, l.logprob]),
    [
      ["a", [97], -0.5],
      ["b", [98], -0.5],
      ["", [], -0.5],
    ],
  );
  policy.replies.push("long reply");
  const cut = await client.responses.create({ model: "tiny", input: "go", max_output_tokens: 3 });
  assert.equal(cut.status, "incomplete");
  assert.deepEqual(cut.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(cut.output_text, "lon");
});

test("a function_call item comes back from a <tool_call> reply, and its output returns to the model as <tool_response> in the same ids", {
  timeout: 30_000,
}, async () => {
  const { ar, client } = await attempt();
  policy.replies.push('I will compute.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "6*7"}}\n</tool_call>', "It is 42.");
  const input: OpenAI.Responses.ResponseInputItem[] = [{ role: "user", content: "6*7?" }];
  const r = await client.responses.create({ model: "tiny", tools: [calc], input });
  assert.equal(r.status, "completed");
  assert.deepEqual(
    r.output.map((o) => o.type),
    ["message", "function_call"],
  );
  assert.equal(r.output_text, "I will compute.");
  const call = r.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
  assert.match(call.call_id, /^call_/);
  assert.match(call.id ?? "", /^fc_/);
  assert.equal(call.name, "calc");
  assert.deepEqual(JSON.parse(call.arguments), { expression: "6*7" });
  // The client sends back what it got (as the Agents SDK does) plus the tool's output.
  input.push(...(r.output as OpenAI.Responses.ResponseInputItem[]), { type: "function_call_output", call_id: call.call_id, output: "42" });
  const r2 = await client.responses.create({ model: "tiny", tools: [calc], input });
  assert.equal(r2.output_text, "It is 42.");
  const prompt = tokenizer.decode(policy.prompts.at(-1)!);
  assert.match(prompt, /<tools>\n\{"type": "function", "function": \{"name": "calc", "description": "Evaluate arithmetic"/);
  assert.match(prompt, /<\|im_start\|>user\n<tool_response>\n42\n<\/tool_response><\|im_end\|>\n<\|im_start\|>assistant\n$/);
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 2);
  const [p1, p2] = policy.prompts.slice(-2);
  const r1 = spans[0].attributes["gen_ai.completion.token_ids"] as number[];
  assert.deepEqual(
    p2.slice(0, p1.length + r1.length),
    [...p1, ...r1],
    "the message and its function_call are one assistant turn, as generated",
  );
  assert.deepEqual(JSON.parse(spans[0].attributes["gen_ai.output.messages"] as string)[0].tool_calls[0].function, {
    name: "calc",
    arguments: call.arguments,
  });
  // tool_choice required / named force a call (the prompt opens it); none offers no call
  policy.replies.push('calc", "arguments": {"expression": "1"}}\n</tool_call>', '{"expression": "2"}}\n</tool_call>');
  const required = await client.responses.create({ model: "tiny", tools: [calc], tool_choice: "required", input: "x" });
  assert.deepEqual(
    required.output.map((o) => [o.type, (o as OpenAI.Responses.ResponseFunctionToolCall).arguments]),
    [["function_call", '{"expression":"1"}']],
  );
  const named = await client.responses.create({
    model: "tiny",
    tools: [calc],
    tool_choice: { type: "function", name: "calc" },
    input: "x",
  });
  assert.deepEqual(
    named.output.map((o) => [o.type, (o as OpenAI.Responses.ResponseFunctionToolCall).arguments]),
    [["function_call", '{"expression":"2"}']],
  );
  policy.replies.push('<tool_call>\n{"name": "calc", "arguments": {}}\n</tool_call>');
  const none = await client.responses.create({ model: "tiny", tools: [calc], tool_choice: "none", input: "x" });
  assert.deepEqual(
    none.output.map((o) => o.type),
    ["message"],
  );
});

test("streaming sends OpenAI's events in order with rising sequence numbers, and the SDK's stream helper assembles the response", {
  timeout: 30_000,
}, async () => {
  const { client } = await attempt();
  policy.replies.push('Sure.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "123456789*987654321"}}\n</tool_call>');
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const e of await client.responses.create({ model: "tiny", tools: [calc], input: "big", stream: true })) events.push(e);
  assert.deepEqual(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ["response.created", "response.in_progress", "response.output_item.added"]);
  assert.equal(types.at(-1), "response.completed");
  const firstArgs = types.indexOf("response.function_call_arguments.delta");
  assert.deepEqual(types.slice(3, firstArgs), [
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.output_item.added",
  ]);
  assert.deepEqual(types.slice(-3), ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]);
  const args = events.flatMap((e) => (e.type === "response.function_call_arguments.delta" ? [e.delta] : []));
  assert.ok(args.length > 1, "arguments arrive in pieces");
  assert.deepEqual(JSON.parse(args.join("")), { expression: "123456789*987654321" });
  const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
  assert.equal(created.response.status, "in_progress");
  const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
  assert.deepEqual(
    done.response.output.map((o) => o.type),
    ["message", "function_call"],
  );
  assert.equal(done.response.id, created.response.id);
  // plain text: one delta per token, joining to the text; the helper's final response matches
  policy.replies.push("plain text");
  const stream = client.responses.stream({ model: "tiny", input: "x" });
  const deltas: string[] = [];
  stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
  const final = await stream.finalResponse();
  assert.equal(final.output_text, "plain text");
  assert.equal(deltas.length, "plain text".length);
  assert.equal(deltas.join(""), "plain text");
  // per-token logprobs ride on the deltas when asked for
  policy.replies.push("hé");
  const withLogprobs: OpenAI.Responses.ResponseTextDeltaEvent[] = [];
  for await (const e of await client.responses.create({
    model: "tiny",
    input: "x",
    include: ["message.output_text.logprobs"],
    stream: true,
  }))
    if (e.type === "response.output_text.delta") withLogprobs.push(e);
  assert.deepEqual(
    withLogprobs.map((e) => [e.delta, e.logprobs.map((l) => [l.token, l.logprob])]),
    [
      ["h", [["h", -0.5]]],
      // é is two byte tokens: the first has no text, its logprob comes with the second
      [
        "é",
        [
          ["", -0.5],
          ["é", -0.5],
        ],
      ],
    ],
  );
  // a cut reply ends with response.incomplete
  policy.replies.push("long reply");
  const cut: string[] = [];
  for await (const e of await client.responses.create({ model: "tiny", input: "x", max_output_tokens: 2, stream: true })) cut.push(e.type);
  assert.equal(cut.at(-1), "response.incomplete");
});

test("every input item shape reaches the model: random conversations render as their chat turns, streamed or not", {
  timeout: 60_000,
}, async () => {
  const text = fc.string({ maxLength: 8 }).filter((s) => !s.includes("<|"));
  const parts = (type: "input_text" | "output_text") =>
    fc.array(
      text.map((t) => (type === "output_text" ? { type, text: t, annotations: [] } : { type, text: t })),
      { minLength: 1, maxLength: 2 },
    );
  const user = fc.record(
    {
      type: fc.constant("message" as const),
      role: fc.constantFrom("user" as const, "system" as const, "developer" as const),
      content: fc.oneof(text, parts("input_text")),
    },
    { requiredKeys: ["role", "content"] },
  );
  const assistant = fc.record({
    type: fc.constant("message" as const),
    role: fc.constant("assistant" as const),
    content: fc.oneof(text, parts("output_text")),
  });
  const id = fc.string({ minLength: 1, maxLength: 4 });
  const fcall = fc.record({
    type: fc.constant("function_call" as const),
    call_id: id,
    name: fc.constant("calc"),
    arguments: fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }).map((o) => JSON.stringify(o)),
  });
  const fout = fc.record({
    type: fc.constant("function_call_output" as const),
    call_id: id,
    output: fc.oneof(
      text,
      fc.array(
        text.map((t) => ({ type: "input_text" as const, text: t })),
        { maxLength: 2 },
      ),
    ),
  });
  type In = { type?: string; role?: string; content?: unknown; call_id?: string; name?: string; arguments?: string; output?: unknown };
  const joined = (c: unknown) => (typeof c === "string" ? c : (c as { text: string }[]).map((p) => p.text).join(""));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(text, fc.array(fc.oneof(user, assistant, fcall, fout), { minLength: 1, maxLength: 5 })),
      fc.option(text, { nil: undefined }),
      fc.boolean(),
      async (input, instructions, stream) => {
        const r = await post({
          model: "tiny",
          max_output_tokens: 2,
          input,
          tools: [calc],
          stream,
          ...(instructions !== undefined ? { instructions } : {}),
        });
        assert.equal(r.status, 200, await r.clone().text());
        await r.text();
        // The mapping, written out independently of the proxy's.
        const turns: agl.tokenizer.ChatTurn[] = instructions ? [{ role: "system", content: instructions }] : [];
        for (const it of typeof input === "string" ? [{ role: "user", content: input } as In] : (input as In[])) {
          if (it.type === "function_call") {
            const call = { id: it.call_id!, type: "function" as const, function: { name: it.name!, arguments: it.arguments! } };
            const last = turns.at(-1);
            if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), call];
            else turns.push({ role: "assistant", content: "", tool_calls: [call] });
          } else if (it.type === "function_call_output")
            turns.push({ role: "tool", content: joined(it.output), tool_call_id: it.call_id! });
          else turns.push({ role: it.role === "developer" ? "system" : it.role!, content: joined(it.content) });
        }
        assert.equal(tokenizer.decode(policy.prompts.at(-1)!), template.render(turns, { tools: [calcSpec], addGenerationPrompt: true }));
      },
    ),
    { numRuns: 80, seed: 13 },
  );
});

test("fields the native backend cannot honour get a 400 naming them; bad bodies a 400 with the reason", { timeout: 30_000 }, async () => {
  const base = { model: "tiny", input: "x" };
  const refuse = async (body: unknown, status: number, re: RegExp) => {
    const r = await post(body);
    const text = await r.text();
    assert.equal(r.status, status, text);
    const e = JSON.parse(text) as { error: { message: string; type: string } };
    assert.match(e.error.message, re);
    assert.equal(e.error.type, "invalid_request_error");
  };
  await refuse({ ...base, previous_response_id: "resp_1" }, 400, /previous_response_id.*whole conversation/);
  await refuse({ ...base, conversation: "conv_1" }, 400, /conversation/);
  await refuse({ ...base, tools: [{ type: "web_search" }] }, 400, /tools\.0.*"web_search"/);
  await refuse({ ...base, tool_choice: { type: "file_search" } }, 400, /tool_choice.*"file_search"/);
  await refuse(
    { ...base, input: [{ role: "user", content: [{ type: "input_image", image_url: "x" }] }] },
    400,
    /input\.0\.content\.0.*"input_image"/,
  );
  await refuse({ ...base, input: [{ type: "reasoning", id: "rs_1", summary: [] }] }, 400, /input\.0.*"reasoning"/);
  await refuse({ ...base, reasoning: { effort: "high" } }, 400, /reasoning/);
  await refuse({ ...base, text: { format: { type: "json_schema", name: "x", schema: {} } } }, 400, /text\.format.*structured output/);
  await refuse({ ...base, include: ["file_search_call.results"] }, 400, /include\.0/);
  await refuse({ ...base, top_logprobs: 3 }, 400, /top_logprobs/);
  await refuse({ ...base, truncation: "auto" }, 400, /truncation/);
  await refuse({ ...base, background: true }, 400, /background/);
  await refuse({ ...base, max_tool_calls: 2 }, 400, /max_tool_calls/);
  await refuse({ ...base, frequency_penalty: 1 }, 400, /frequency_penalty/);
  await refuse({ ...base, temperature: 5 }, 400, /temperature/);
  await refuse({ model: "tiny" }, 400, /input/);
  await refuse({ ...base, input: [] }, 400, /input/);
  await refuse({ ...base, input: [{ type: "function_call", call_id: "", name: "calc", arguments: "{}" }] }, 400, /input\.0/);
  await refuse({ ...base, tools: [calc], tool_choice: { type: "function", name: "nope" } }, 400, /tool_choice/);
  await refuse("{not json", 400, /not valid JSON/);
  await refuse({ ...base, model: "gpt-9" }, 404, /gpt-9/);
  // Fields that change nothing here are accepted.
  policy.replies.push("fine");
  const ok = await post({
    ...base,
    store: false,
    metadata: { k: "v" },
    user: "u",
    include: [],
    parallel_tool_calls: false,
    truncation: "disabled",
  });
  assert.equal(ok.status, 200, await ok.clone().text());
  const body = (await ok.json()) as { parallel_tool_calls: boolean; metadata: unknown; store: boolean };
  assert.equal(body.parallel_tool_calls, false);
  assert.deepEqual(body.metadata, { k: "v" });
  assert.equal(body.store, false, "nothing is stored");
});

test("no JSON body makes the Responses route answer 500: arbitrary values and mutated valid requests get 200 or a 4xx", {
  timeout: 120_000,
}, async () => {
  const valid = {
    model: "tiny",
    input: [
      { role: "user", content: "hi" },
      { type: "function_call", call_id: "c", name: "calc", arguments: "{}" },
      { type: "function_call_output", call_id: "c", output: "1" },
    ],
    instructions: "i",
    tools: [calc],
    tool_choice: "auto",
    max_output_tokens: 2,
    temperature: 1,
    top_p: 1,
    stream: false,
  };
  const keys = [
    ...Object.keys(valid),
    "include",
    "text",
    "reasoning",
    "previous_response_id",
    "parallel_tool_calls",
    "store",
    "top_logprobs",
  ];
  const mutated = fc
    .tuple(
      // mostly keeping model and input, so many mutants get past them to the rest
      fc.oneof({ arbitrary: fc.subarray(keys.slice(2)), weight: 3 }, { arbitrary: fc.subarray(keys), weight: 1 }),
      fc.array(fc.tuple(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 })), { maxLength: 2 }),
    )
    .map(([drop, set]) => {
      const b: Record<string, unknown> = { ...valid };
      for (const k of drop) delete b[k];
      for (const [k, v] of set) b[k] = v;
      return b;
    });
  const item = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ type: fc.string(), role: fc.jsonValue({ maxDepth: 1 }), content: fc.jsonValue({ maxDepth: 2 }) }),
  );
  const items = fc.array(item, { maxLength: 3 }).map((input) => ({ ...valid, input }));
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutated, items), async (body) => {
      const r = await post(body);
      const text = await r.text();
      assert.ok(r.status < 500, `${r.status} for ${JSON.stringify(body)}: ${text}`);
      if (r.status >= 400) assert.ok((JSON.parse(text) as { error: { message: string } }).error.message.length > 0);
    }),
    { numRuns: 300, seed: 5 },
  );
});

test("an upstream backend serves the Responses API through chat completions, and the call is recorded with its token ids", {
  timeout: 30_000,
}, async () => {
  const up = await startFakeOpenAI();
  const s = await agl.openStore();
  const p = await agl.llm.startLlmProxy({ store: s, backend: new agl.llm.UpstreamBackend({ baseURL: up.baseURL, models: ["up"] }) });
  try {
    const ar = await s.startRollout({ input: null });
    const client = new OpenAI({ apiKey: "x", baseURL: p.urlFor(ar.rolloutId, ar.attempt.attemptId), maxRetries: 0 });
    const r = await client.responses.create({ model: "up", instructions: "sys", input: "ping", max_output_tokens: 9, tools: [calc] });
    assert.equal(r.output_text, "echo:ping");
    const sent = up.requests.at(-1) as Record<string, unknown>;
    assert.deepEqual(sent.messages, [
      { role: "system", content: "sys" },
      { role: "user", content: "ping" },
    ]);
    assert.equal(sent.max_tokens, 9);
    assert.deepEqual(sent.tools, [calcSpec]);
    const streamed = await client.responses.stream({ model: "up", input: "pong" }).finalResponse();
    assert.equal(streamed.output_text, "echo:pong");
    const spans = (await s.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
    assert.equal(spans.length, 2);
    const [t] = agl.spansToTriplets(spans);
    assert.deepEqual(t.prompt.tokenIds, [1, 2, 3]);
    assert.deepEqual(
      t.response.tokenIds,
      [..."echo:ping"].map((c) => c.charCodeAt(0)),
    );
  } finally {
    await p.close();
    await s.close();
    await up.close();
  }
});

test("an @openai/agents conversation continues from its history, streamed: the SDK's items render as the turns the model wrote", {
  timeout: 60_000,
}, async () => {
  const { Agent: SdkAgent, Runner, OpenAIProvider, tool } = await import("@openai/agents");
  const { z } = await import("zod");
  const { ar, client } = await attempt();
  const provider = new OpenAIProvider({ openAIClient: client as never });
  const agent = new SdkAgent({
    name: "calc",
    instructions: "Use calc.",
    model: "tiny",
    modelSettings: { maxTokens: 128 },
    tools: [
      tool({
        name: "calc",
        description: "Evaluate arithmetic",
        parameters: z.object({ expression: z.string() }),
        execute: async () => "42",
      }),
    ],
  });
  const runner = new Runner({ modelProvider: provider, tracingDisabled: true });
  policy.replies.push('Let me see.\n<tool_call>\n{"name": "calc", "arguments": {"expression": "6*7"}}\n</tool_call>', "It is 42.");
  const first = await runner.run(agent, "6*7?");
  assert.equal(first.finalOutput, "It is 42.");
  policy.replies.push("You are welcome.");
  const streamed = await runner.run(agent, [...first.history, { role: "user", content: "thanks" }], { stream: true });
  let text = "";
  for await (const e of streamed.toTextStream()) text += e;
  await streamed.completed;
  assert.equal(text, "You are welcome.");
  assert.equal(streamed.finalOutput, "You are welcome.");
  const call = { id: "", type: "function" as const, function: { name: "calc", arguments: '{"expression":"6*7"}' } };
  const spans = (await store.querySpans({ rolloutId: ar.rolloutId })).filter(agl.adapter.isLlmSpan);
  assert.equal(spans.length, 3);
  const sent = JSON.parse(spans[2].attributes["gen_ai.input.messages"] as string) as agl.tokenizer.ChatTurn[];
  call.id = sent[2].tool_calls![0].id;
  assert.match(call.id, /^call_/);
  const turns: agl.tokenizer.ChatTurn[] = [
    { role: "system", content: "Use calc." },
    { role: "user", content: "6*7?" },
    { role: "assistant", content: "Let me see.", tool_calls: [call] },
    { role: "tool", content: "42", tool_call_id: call.id },
    { role: "assistant", content: "It is 42." },
    { role: "user", content: "thanks" },
  ];
  assert.deepEqual(sent, turns);
  const tools = JSON.parse(spans[2].attributes["gen_ai.tool.definitions"] as string) as agl.tokenizer.ToolSpec[];
  assert.deepEqual(
    tools.map((t) => [t.function.name, t.function.strict]),
    [["calc", true]],
  );
  assert.equal(tokenizer.decode(policy.prompts.at(-1)!), template.render(turns, { tools, addGenerationPrompt: true }));
  // the third prompt extends the second call's prompt and reply, token for token
  const [p2, p3] = policy.prompts.slice(-2);
  const r2 = spans[1].attributes["gen_ai.completion.token_ids"] as number[];
  assert.deepEqual(p3.slice(0, p2.length + r2.length), [...p2, ...r2]);
});

test("an @openai/agents Agent on the SDK's default model (the Responses API) calls its tool through the proxy, and its calls are the rollout's LLM spans", {
  timeout: 300_000,
}, async () => {
  const { OpenAIProvider, OpenAIResponsesModel } = await import("@openai/agents");
  const tok = new ToolTaskTokenizer();
  const native = await agl.native.Policy.create({ ...calculatorPolicyConfig(tok), seed: 1 });
  await warmStart(native, tok, { tasks: calculatorTasks(1000, 1), steps: 60, batchSize: 32, lr: 1e-2, seed: 1 });
  const s = await agl.openStore();
  const backend = new agl.llm.PolicyBackend({ policy: native, tokenizer: tok, model: "calc", chatTemplate: tok.template() });
  const p = await new agl.llm.LlmProxy({ backend, store: s, defaultMaxTokens: 16 }).start();
  const models: unknown[] = [];
  const agent: Agent<CalcTask> = rollout(
    async (task: CalcTask, ctx) => {
      const { Agent: SdkAgent, Runner, tool } = await import("@openai/agents");
      const { z } = await import("zod");
      const { endpoint, model } = llmOf(ctx);
      const provider = new OpenAIProvider({ openAIClient: new OpenAI({ baseURL: endpoint, apiKey: "none", maxRetries: 0 }) as never });
      models.push(await provider.getModel(model));
      const calculator = new SdkAgent({
        name: "calculator",
        instructions: "Use the calculate tool, then answer with the number.",
        // a model name, resolved by the provider as the SDK does by default
        model,
        modelSettings: { temperature: sampling(ctx).temperature, maxTokens: sampling(ctx).max_tokens },
        tools: [
          tool({
            name: "calculate",
            description: CALCULATE_DESCRIPTION,
            parameters: z.object({ expression: z.string() }),
            execute: async ({ expression }) => calculate(expression),
          }),
        ],
      });
      const result = await new Runner({ modelProvider: provider }).run(calculator, question(task), { maxTurns: 4 });
      emitReward(scoreCalc(task, String(result.finalOutput ?? "")));
    },
    { name: "calculator-responses" },
  );
  try {
    await s.addResources({ llm: { ...p.resource("calc"), samplingParameters: { temperature: 0, max_tokens: 16 } } });
    const out = await new agl.Trainer({ store: s, nRunners: 1, log: () => {} }).dev(agent, calculatorTasks(2, 11));
    assert.ok(models.length > 0 && models.every((m) => m instanceof OpenAIResponsesModel), "the SDK's default model class");
    assert.equal(out.rollouts.length, 2);
    for (const r of out.rollouts) {
      const spans = await s.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
      const failure = spans.find((x) => x.status.statusCode === "ERROR")?.status.description;
      assert.equal(r.status, "succeeded", failure ?? "no error span");
      const calls = spans.filter(agl.adapter.isLlmSpan);
      assert.equal(calls.length, 2, "a tool call, then the answer");
      assert.ok(calls.every((c) => c.attributes["arclight.llm.recorded_by"] === "proxy"));
      const out1 = JSON.parse(calls[0].attributes["gen_ai.output.messages"] as string);
      assert.equal(out1[0].tool_calls[0].function.name, "calculate");
      const triplets = agl.spansToTriplets(spans, { requireTokenIds: true });
      assert.equal(triplets.length, 2);
      // the second prompt extends the first call's prompt and reply token for token
      assert.deepEqual(triplets[1].prompt.tokenIds.slice(0, triplets[0].prompt.tokenIds.length + triplets[0].response.tokenIds.length), [
        ...triplets[0].prompt.tokenIds,
        ...triplets[0].response.tokenIds,
      ]);
    }
  } finally {
    await p.close();
    await s.close();
    await native.dispose();
  }
});

// Framework traces in the rollout's trace: LangChain.js runs and the OpenAI
// Agents SDK's spans become OpenTelemetry spans nested under the rollout with
// the framework's parent links, each model call is one LLM-call span (the
// instrumented openai client's, holding token ids), so frames and the adapter
// count calls alike; the AI SDK's calls carry traceparent so the proxy's
// record nests under its provider-call span. Agents run through the LLM proxy
// on a warm-started native policy, as in agents-tool.test.ts.
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Policy } from "../src/native/policy.js";
import { openStore } from "../src/store/index.js";
import type { LightningStore } from "../src/store/lightning-store.js";
import { LlmProxy } from "../src/llm/proxy.js";
import { PolicyBackend } from "../src/llm/policy-backend.js";
import { Trainer } from "../src/trainer/index.js";
import { rollout, type Agent } from "../src/runner/agent.js";
import { emitReward, instrumentFrameworks, withScope, TraceScope } from "../src/tracer/index.js";
import { modelCallAttributes } from "../src/tracer/framework-calls.js";
import { spansToTriplets } from "../src/adapter/triplets.js";
import { checkPrefix } from "../src/adapter/episodes.js";
import { TraceTree } from "../src/adapter/tree.js";
import { llmCalls } from "../src/frame/frames.js";
import { rolloutSummary } from "../src/frame/helpers.js";
import { CALL_RECORD, GEN_AI, isLlmCall, type Span } from "../src/types/index.js";
import { parseTraceparent } from "../src/llm/record.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { trace } from "@opentelemetry/api";
import { ToolTaskTokenizer, CALL_OPEN } from "../src/examples/tool-agent-tokenizer.js";
import {
  CALCULATE_DESCRIPTION,
  CALCULATE_TOOL,
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
import { FRAMEWORK_AGENTS } from "../src/examples/tool-agent-frameworks.js";

// The Agents SDK turns its tracing off under NODE_ENV=test; these tests are about that tracing.
if (process.env.NODE_ENV === "test") delete process.env.NODE_ENV;

const tok = new ToolTaskTokenizer();
let policy: Policy;
let store: LightningStore;
let proxy: LlmProxy;

before(async () => {
  policy = await Policy.create({ ...calculatorPolicyConfig(tok), seed: 1 });
  // enough for the tool-call format, so each episode is a tool call then an answer
  await warmStart(policy, tok, { tasks: calculatorTasks(1000, 1), steps: 60, batchSize: 32, lr: 1e-2, seed: 1 });
  store = await openStore();
  const backend = new PolicyBackend({ policy, tokenizer: tok, model: "calc", chatTemplate: tok.template() });
  proxy = await new LlmProxy({ backend, store, defaultMaxTokens: 16 }).start();
  await store.addResources({ llm: { ...proxy.resource("calc"), samplingParameters: { temperature: 0, max_tokens: 16 } } });
});

after(async () => {
  await proxy?.close();
  await store?.close();
  await policy?.dispose();
});

async function runOne(agent: Agent<CalcTask>, seed = 11): Promise<{ rolloutId: string; spans: Span[] }> {
  const out = await new Trainer({ store, nRunners: 1, log: () => {} }).dev(agent, calculatorTasks(1, seed));
  const r = out.rollouts[0];
  const spans = await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
  const failure = spans.find((s) => s.status.statusCode === "ERROR")?.status.description;
  assert.equal(r.status, "succeeded", failure ?? "no error span");
  return { rolloutId: r.rolloutId, spans };
}

/** The rollout's LLM calls as frames.llmCalls, rolloutSummary and the adapter count them. */
async function callCounts(
  rolloutId: string,
  spans: Span[],
): Promise<{ frames: number; summary: number; triplets: number; withIds: number }> {
  const rows = await llmCalls(store, { rolloutId });
  const summary = (await rolloutSummary(store)).objects().find((r) => (r as { rollout_id: string }).rollout_id === rolloutId) as {
    llm_calls: number;
  };
  return {
    frames: rows.numRows(),
    summary: summary.llm_calls,
    triplets: spansToTriplets(spans).length,
    withIds: spansToTriplets(spans, { requireTokenIds: true }).length,
  };
}

function byName(spans: Span[], re: RegExp): Span[] {
  return spans.filter((s) => re.test(s.name));
}

/** The same calculator agent, its tool loop inside a LangChain runnable (as a chain or a LangGraph node runs it). */
const chainAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { ChatOpenAI } = await import("@langchain/openai");
    const { tool } = await import("@langchain/core/tools");
    const { HumanMessage } = await import("@langchain/core/messages");
    const { RunnableLambda } = await import("@langchain/core/runnables");
    const { z } = await import("zod");
    const { endpoint, model } = llmOf(ctx);
    const s = sampling(ctx);
    const calculator = tool(async ({ expression }: { expression: string }) => calculate(expression), {
      name: "calculate",
      description: CALCULATE_DESCRIPTION,
      schema: z.object({ expression: z.string() }),
    });
    const llm = new ChatOpenAI({
      model,
      apiKey: "none",
      configuration: { baseURL: endpoint },
      temperature: s.temperature,
      maxTokens: s.max_tokens,
      maxRetries: 0,
    }).bindTools([calculator]);
    const loop = RunnableLambda.from(async (q: string) => {
      const messages: import("@langchain/core/messages").BaseMessage[] = [new HumanMessage(q)];
      for (let turn = 0; turn < 4; turn++) {
        const ai = await llm.invoke(messages);
        messages.push(ai);
        if (!ai.tool_calls?.length) return typeof ai.content === "string" ? ai.content : JSON.stringify(ai.content);
        for (const call of ai.tool_calls) messages.push(await calculator.invoke(call));
      }
      return "";
    }).withConfig({ runName: "calculator-chain" });
    emitReward(scoreCalc(task, await loop.invoke(question(task))));
  },
  { name: "calculator-langchain-chain" },
);

test("LangChain.js runs in a rollout nest under their chain: model runs are the openai call spans with token ids, tools are execute_tool spans", {
  timeout: 60_000,
}, async () => {
  const { rolloutId, spans } = await runOne(chainAgent);
  const [chain] = byName(spans, /^calculator-chain$/);
  assert.ok(chain, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(chain.attributes["langchain.run.type"], "chain");
  assert.equal(chain.parentId, null, "the chain is at the rollout's top level");
  const chats = spans.filter((s) => s.attributes["langchain.run.type"] === "llm");
  const tools = byName(spans, /^execute_tool /);
  assert.equal(chats.length, 2, "a tool call, then the answer");
  assert.ok(tools.length >= 1);
  for (const s of [...chats, ...tools]) {
    assert.equal(s.parentId, chain.spanId, `${s.name} (${s.attributes["langchain.run.type"]}) sits under the chain`);
    assert.equal(s.traceId, chain.traceId, "one trace");
  }
  // the model run's span is the client's call span: one per call, holding what training needs
  for (const c of chats) {
    assert.equal(c.attributes[GEN_AI.operationName], "chat");
    assert.equal(c.attributes["langchain.run.name"], "ChatOpenAI");
    assert.ok(Array.isArray(c.attributes[GEN_AI.completionTokenIds]));
  }
  assert.equal(tools[0].attributes[GEN_AI.toolName], "calculate");
  assert.ok(typeof tools[0].attributes[GEN_AI.toolCallId] === "string", "the tool call's id links the tool run to the model's call");
  assert.match(String(tools[0].attributes[GEN_AI.toolCallResult]), /^-?\d+$/);
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 2, summary: 2, triplets: 2, withIds: 2 });
  const calls = spansToTriplets(spans, { rewardAssignment: "final", requireTokenIds: true });
  assert.ok(tok.decode(calls[0].response.tokenIds!).startsWith(CALL_OPEN));
  assert.deepEqual(checkPrefix(calls), { ok: true });
  assert.ok(calls.every((c) => c.parentId === chain.spanId));
});

test("the LangChain.js example agent, unchanged, records its model and tool runs once each and its triplets keep token ids", {
  timeout: 60_000,
}, async () => {
  const { rolloutId, spans } = await runOne(FRAMEWORK_AGENTS.langchain);
  assert.equal(spans.filter((s) => s.attributes["langchain.run.type"] === "llm").length, 2);
  assert.ok(byName(spans, /^execute_tool calculate$/).length >= 1);
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 2, summary: 2, triplets: 2, withIds: 2 });
});

test("the OpenAI Agents SDK's trace lands in the rollout: workflow, agent, turns, generations and function calls keep the SDK's parents", {
  timeout: 60_000,
}, async () => {
  const { rolloutId, spans } = await runOne(FRAMEWORK_AGENTS["openai-agents"]);
  const tree = new TraceTree(spans);
  const type = (s: Span) => s.attributes["openai_agents.span.type"];
  const workflow = spans.find((s) => type(s) === "trace");
  const agent = spans.find((s) => type(s) === "agent");
  assert.ok(workflow && agent, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(workflow.parentId, null);
  assert.equal(agent.name, "invoke_agent calculator");
  assert.equal(agent.attributes[GEN_AI.agentName], "calculator");
  const generations = spans.filter((s) => type(s) === "generation");
  const functions = spans.filter((s) => type(s) === "function");
  assert.equal(generations.length, 2);
  assert.ok(functions.length >= 1);
  for (const s of [...generations, ...functions]) {
    const above = [...tree.lineage(tree.node(s.spanId)!)].map((n) => n.span.spanId);
    assert.ok(above.includes(agent.spanId) && above.includes(workflow.spanId), `${s.name} is under the agent and the workflow`);
    assert.equal(s.traceId, workflow.traceId);
    // the SDK's own span ids stay on the spans, and its parent link is the OTel one
    assert.match(String(s.attributes["openai_agents.span_id"]), /^span_/);
  }
  assert.equal(type(tree.node(functions[0].spanId)!.parent!.span), "turn");
  assert.equal(typeof JSON.parse(String(functions[0].attributes[GEN_AI.toolCallArguments])).expression, "string", "the model's arguments");
  // turn and task spans carry usage, but under openai_agents.data.*: not LLM calls
  assert.ok(spans.filter((s) => type(s) === "turn").every((s) => !isLlmCall(s.name, s.attributes)));
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 2, summary: 2, triplets: 2, withIds: 2 });
  // agentMatch selects through the nested agent span; the rollout's agent name works too
  const mine = spansToTriplets(spans, { agentMatch: "calculator", requireTokenIds: true });
  assert.equal(mine.length, 2);
  assert.ok(
    mine.every((t) => t.agentName === "calculator"),
    "a call's nearest agent is the SDK agent that made it",
  );
  assert.equal(spansToTriplets(spans, { agentMatch: "calculator-openai-agents", requireTokenIds: true }).length, 2);
  assert.equal(spansToTriplets(spans, { agentMatch: "someone-else" }).length, 0);
  assert.deepEqual(checkPrefix(spansToTriplets(spans, { requireTokenIds: true })), { ok: true });
});

test("the AI SDK's calls reach the proxy with traceparent: the proxy's record nests under the provider-call span, which then counts as its view", {
  timeout: 60_000,
}, async () => {
  const { rolloutId, spans } = await runOne(FRAMEWORK_AGENTS["ai-sdk"]);
  const provider = byName(spans, /^ai\.generateText\.doGenerate$/);
  const records = spans.filter((s) => s.attributes["arclight.llm.recorded_by"] === "proxy");
  assert.equal(provider.length, 2);
  assert.equal(records.length, 2);
  for (const r of records) {
    const p = provider.find((s) => s.spanId === r.parentId);
    assert.ok(p, "each record sits under the provider call that made it");
    assert.equal(r.traceId, p.traceId);
    assert.equal(p.attributes[CALL_RECORD], "child");
    assert.ok(!isLlmCall(p.name, p.attributes) && isLlmCall(r.name, r.attributes));
  }
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 2, summary: 2, triplets: 2, withIds: 2 });
  // nested, the proxy's records belong to the agent named above them
  assert.equal(spansToTriplets(spans, { agentMatch: "calculator-ai-sdk", requireTokenIds: true }).length, 2);
});

test("traceparent goes only to the rollout's own proxy URL, from the active span; the proxy reads only well-formed ones", {
  timeout: 20_000,
}, async () => {
  await instrumentFrameworks();
  const got: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    got.push(req.headers.traceparent as string | undefined);
    res.end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let ids = "";
  await inRollout((scope) =>
    trace.getTracer("test").startActiveSpan("caller", async (span) => {
      ids = `${span.spanContext().traceId}-${span.spanContext().spanId}`;
      await (await fetch(`${base}/rollout/${scope.rolloutId}/attempt/${scope.attemptId}/v1/chat/completions`)).text();
      await (await fetch(`${base}/rollout/ro-other/attempt/at-other/v1/chat/completions`)).text();
      await (await fetch(`${base}/v1/chat/completions`)).text();
      span.end();
    }),
  );
  await (await fetch(`${base}/rollout/x/attempt/y/v1/chat/completions`)).text();
  await new Promise<void>((r) => server.close(() => r()));
  assert.deepEqual(got, [`00-${ids}-01`, undefined, undefined, undefined]);
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  fc.assert(
    fc.property(hex(32), hex(16), hex(2), (t, s, f) => {
      const p = parseTraceparent(`00-${t}-${s}-${f}`);
      return /^0+$/.test(t) || /^0+$/.test(s) ? p === null : p?.traceId === t && p.spanId === s;
    }),
  );
  fc.assert(fc.property(fc.string(), (h) => parseTraceparent(h) === null || /^\s*00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\s*$/.test(h)));
  for (const bad of [undefined, 7, `01-${"a".repeat(32)}-${"b".repeat(16)}-01`, `00-${"A".repeat(32)}-${"b".repeat(16)}-01`])
    assert.equal(parseTraceparent(bad), null);
});

test("a LangChain model whose client is not the openai SDK reaches the proxy under its model run: one call, recorded by the proxy", {
  timeout: 60_000,
}, async () => {
  const { BaseChatModel } = await import("@langchain/core/language_models/chat_models");
  const { AIMessage, HumanMessage } = await import("@langchain/core/messages");
  type Msg = import("@langchain/core/messages").BaseMessage;
  // A chat model on plain fetch, as providers without the openai SDK (Anthropic's, Ollama's) are written.
  class FetchChatModel extends BaseChatModel {
    constructor(
      private readonly endpoint: string,
      private readonly modelName: string,
    ) {
      super({});
    }
    _llmType(): string {
      return "fetch-chat";
    }
    async _generate(messages: Msg[]) {
      const body = {
        model: this.modelName,
        max_tokens: 8,
        temperature: 0,
        messages: messages.map((m) => ({ role: m.getType() === "human" ? "user" : "assistant", content: String(m.content) })),
      };
      const r = await fetch(`${this.endpoint}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const j = (await r.json()) as { id: string; choices: { message: { content: string | null } }[] };
      const text = j.choices[0].message.content ?? "";
      return { generations: [{ text, message: new AIMessage({ content: text, id: j.id }) }] };
    }
  }
  const agent = rollout(
    async (task: CalcTask, ctx) => {
      const { endpoint, model } = llmOf(ctx);
      await new FetchChatModel(endpoint, model).invoke([new HumanMessage(question(task))]);
    },
    { name: "fetch-model" },
  );
  const { rolloutId, spans } = await runOne(agent);
  const run = spans.find((s) => s.attributes["langchain.run.type"] === "llm");
  const record = spans.find((s) => s.attributes["arclight.llm.recorded_by"] === "proxy");
  assert.ok(run && record, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(record.parentId, run.spanId, "the proxy's record sits under the model run");
  assert.equal(record.traceId, run.traceId);
  assert.equal(run.attributes[CALL_RECORD], "child");
  assert.equal(run.attributes[GEN_AI.operationName], "chat");
  assert.match(String(run.attributes[GEN_AI.inputMessages]), /what is/);
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 1, summary: 1, triplets: 1, withIds: 1 });
});

test("a streamed tool call through the openai client is recorded with its tool calls assembled from the deltas, and its token ids", {
  timeout: 60_000,
}, async () => {
  const agent = rollout(
    async (task: CalcTask, ctx) => {
      const { default: OpenAI } = await import("openai");
      const { endpoint, model } = llmOf(ctx);
      const client = new OpenAI({ baseURL: endpoint, apiKey: "none", maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: question(task) }],
        tools: [CALCULATE_TOOL],
        stream: true,
        ...sampling(ctx),
      });
      for await (const _ of stream) {
        /* read to the end */
      }
    },
    { name: "streamed-openai" },
  );
  const { spans } = await runOne(agent);
  const calls = spans.filter((s) => isLlmCall(s.name, s.attributes));
  assert.equal(calls.length, 1);
  const [out] = JSON.parse(String(calls[0].attributes[GEN_AI.outputMessages])) as {
    tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  }[];
  assert.equal(out.tool_calls?.length, 1, "the warm-started model calls the tool first");
  assert.equal(out.tool_calls![0].function.name, "calculate");
  assert.ok(out.tool_calls![0].id);
  assert.equal(typeof JSON.parse(out.tool_calls![0].function.arguments).expression, "string");
  assert.ok(tok.decode(calls[0].attributes[GEN_AI.completionTokenIds] as number[]).startsWith(CALL_OPEN));
});

test("parallel LangChain branches each get their own model call, and a tool calling the openai client holds that call", {
  timeout: 60_000,
}, async () => {
  const [t1, t2, t3] = calculatorTasks(3, 5);
  const agent = rollout(
    async (_task: CalcTask, ctx) => {
      const { ChatOpenAI } = await import("@langchain/openai");
      const { tool } = await import("@langchain/core/tools");
      const { HumanMessage } = await import("@langchain/core/messages");
      const { RunnableLambda, RunnableMap } = await import("@langchain/core/runnables");
      const { default: OpenAI } = await import("openai");
      const { z } = await import("zod");
      const { endpoint, model } = llmOf(ctx);
      const llm = new ChatOpenAI({
        model,
        apiKey: "none",
        configuration: { baseURL: endpoint },
        temperature: 0,
        maxTokens: 4,
        maxRetries: 0,
      });
      const client = new OpenAI({ baseURL: endpoint, apiKey: "none", maxRetries: 0 });
      const lookup = tool(
        async ({ q }: { q: string }) =>
          (await client.chat.completions.create({ model, messages: [{ role: "user", content: q }], max_tokens: 4, temperature: 0 }))
            .choices[0].message.content ?? "",
        {
          name: "lookup",
          description: "asks the model",
          schema: z.object({ q: z.string() }),
        },
      );
      const branch = (name: string, q: string) =>
        RunnableLambda.from(async () => (await llm.invoke([new HumanMessage(q)])).content).withConfig({ runName: name });
      await RunnableMap.from({
        a: branch("branch-a", question(t1)),
        b: branch("branch-b", question(t2)),
        c: RunnableLambda.from(() => lookup.invoke({ q: question(t3) })),
      }).invoke({});
    },
    { name: "parallel-langchain" },
  );
  const { rolloutId, spans } = await runOne(agent);
  const calls = spans.filter((s) => isLlmCall(s.name, s.attributes));
  assert.equal(calls.length, 3, `spans: ${spans.map((s) => s.name).join(", ")}`);
  for (const [name, t] of [
    ["branch-a", t1],
    ["branch-b", t2],
    ["execute_tool lookup", t3],
  ] as const) {
    const parent = spans.find((s) => s.name === name);
    assert.ok(parent, name);
    const under = calls.filter((c) => c.parentId === parent.spanId);
    assert.equal(under.length, 1, `one call under ${name}`);
    assert.match(
      String(under[0].attributes[GEN_AI.inputMessages]),
      new RegExp(question(t).replace(/[*+?()]/g, "\\$&")),
      `${name} holds its own question`,
    );
    assert.ok(Array.isArray(under[0].attributes[GEN_AI.completionTokenIds]));
  }
  assert.deepEqual(await callCounts(rolloutId, spans), { frames: 3, summary: 3, triplets: 3, withIds: 3 });
});

/** A rollout scope on the shared store, for framework calls that need no LLM endpoint. */
async function inRollout<T>(fn: (scope: TraceScope) => Promise<T>): Promise<{ spans: Span[]; rolloutId: string }> {
  const r = await store.startRollout({ input: null });
  const scope = new TraceScope(store, r.rolloutId, r.attempt.attemptId);
  await withScope(scope, () => fn(scope));
  await scope.flush();
  return { rolloutId: r.rolloutId, spans: await store.querySpans({ rolloutId: r.rolloutId }) };
}

test("a model run no client span recorded becomes an LLM-call span of its own, from what LangChain reported, errors included", {
  timeout: 20_000,
}, async () => {
  await instrumentFrameworks();
  // FakeListChatModel stands in for a hosted model's own client (not the openai SDK), which this machine cannot reach.
  const { FakeListChatModel } = await import("@langchain/core/utils/testing");
  const { HumanMessage } = await import("@langchain/core/messages");
  const { RunnableLambda } = await import("@langchain/core/runnables");
  const model = new FakeListChatModel({ responses: ["forty-two"] });
  const failing = RunnableLambda.from(async () => {
    throw new Error("tool broke");
  }).withConfig({ runName: "broken-step" });
  const { rolloutId, spans } = await inRollout(async () => {
    await model.invoke([new HumanMessage("what is 6*7?")]);
    await failing.invoke({}).catch(() => {});
  });
  const calls = spans.filter((s) => isLlmCall(s.name, s.attributes));
  assert.equal(calls.length, 1);
  const [c] = calls;
  assert.equal(c.attributes[GEN_AI.operationName], "chat");
  assert.equal(c.attributes["langchain.run.type"], "llm");
  assert.deepEqual(JSON.parse(String(c.attributes[GEN_AI.inputMessages])), [{ role: "user", content: "what is 6*7?" }]);
  assert.equal(JSON.parse(String(c.attributes[GEN_AI.outputMessages]))[0].content, "forty-two");
  const broken = spans.find((s) => s.name === "broken-step");
  assert.equal(broken?.status.statusCode, "ERROR");
  assert.equal(broken?.status.description, "tool broke");
  assert.equal((await llmCalls(store, { rolloutId })).numRows(), 1);
});

test("an Agents SDK generation no client span recorded becomes an LLM-call span with its model, messages and usage, after setTraceProcessors too", {
  timeout: 20_000,
}, async () => {
  await instrumentFrameworks();
  const { withTrace, withGenerationSpan, withCustomSpan, setTraceProcessors } = await import("@openai/agents");
  // an application choosing its own exporters (none here) keeps Arclight's record of its rollouts
  setTraceProcessors([]);
  const { spans } = await inRollout(() =>
    withTrace("by hand", async () => {
      await withGenerationSpan(async (span) => {
        span.spanData.model = "hosted-model";
        span.spanData.input = [{ role: "user", content: "hi" }];
        span.spanData.output = [{ role: "assistant", content: "hello" }];
        span.spanData.usage = { input_tokens: 3, output_tokens: 2 };
      });
      await withCustomSpan(async () => {}, { data: { name: "note", data: { usage: { input_tokens: 1 } } } });
    }),
  );
  const calls = spans.filter((s) => isLlmCall(s.name, s.attributes));
  assert.equal(calls.length, 1, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(calls[0].name, "chat hosted-model");
  assert.equal(calls[0].attributes[GEN_AI.usageInputTokens], 3);
  assert.equal(calls[0].attributes[GEN_AI.usageOutputTokens], 2);
  const root = spans.find((s) => s.name === "by hand");
  assert.equal(calls[0].parentId, root?.spanId);
  assert.equal(spans.find((s) => s.name === "custom note")?.parentId, root?.spanId);
});

test("outside a rollout LangChain runs get no Arclight handler and the Agents SDK processor records nothing", {
  timeout: 20_000,
}, async () => {
  await instrumentFrameworks();
  const { CallbackManager } = await import("@langchain/core/callbacks/manager");
  const names = (m: { handlers: { name: string }[] } | undefined) => (m?.handlers ?? []).map((h) => h.name);
  assert.ok(!names(CallbackManager.configure()).includes("arclight_otel_tracer"));
  const { spans } = await inRollout(async () => {
    assert.ok(names(CallbackManager.configure()).includes("arclight_otel_tracer"));
  });
  assert.equal(spans.length, 0);
  const before = (await store.querySpans({})).length;
  const { withTrace, withGenerationSpan } = await import("@openai/agents");
  await withTrace("outside", () => withGenerationSpan(async () => {}));
  assert.equal((await store.querySpans({})).length, before);
});

test("a framework's model-call report always maps to valid GenAI attributes that semconv counts as one LLM call", () => {
  const value = fc.oneof(fc.string(), fc.double(), fc.integer(), fc.constant(null), fc.constant(undefined));
  fc.assert(
    fc.property(
      fc.record({
        operation: fc.constantFrom("chat" as const, "text_completion" as const),
        provider: value,
        model: value,
        temperature: value,
        maxTokens: value,
        inputTokens: value,
        outputTokens: value,
        responseId: value,
        input: fc.anything(),
        output: fc.anything(),
        finishReasons: fc.option(fc.array(fc.string())),
      }),
      (r) => {
        const a = modelCallAttributes(r as never);
        for (const v of Object.values(a)) {
          const ok =
            typeof v === "string" ||
            (typeof v === "number" && Number.isFinite(v)) ||
            (Array.isArray(v) && v.every((x) => typeof x === "string"));
          if (!ok) return false;
        }
        return isLlmCall(`${r.operation} m`, a) && a[GEN_AI.operationName] === r.operation;
      },
    ),
    { numRuns: 300 },
  );
});

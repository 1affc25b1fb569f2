// The calculator agent of tool-agent.ts written four more ways, each as that
// framework's own documentation writes a tool-using agent; the only Arclight
// line in each is `emitReward`. They reach the policy through the rollout's
// LLM endpoint (the proxy), so every call is traced and trainable.
// Not re-exported from examples/index.ts: each pulls in its framework.
import { z } from "zod";
import { rollout, type Agent } from "../runner/agent.js";
import { emitReward } from "../tracer/index.js";
import { CALCULATE } from "./tool-agent-tokenizer.js";
import { CALCULATE_DESCRIPTION, calculate, llmOf, question, sampling, scoreCalc, type CalcTask } from "./tool-agent.js";

const calculateInput = z.object({ expression: z.string().describe("e.g. 12*7+3") });

/** Vercel AI SDK: generateText with a tool and a step limit, telemetry on (its spans land in the rollout). */
export const aiSdkCalculatorAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { generateText, tool, stepCountIs } = await import("ai");
    const { createOpenAICompatible } = await import("@ai-sdk/openai-compatible");
    const { endpoint, model } = llmOf(ctx);
    const s = sampling(ctx);
    const provider = createOpenAICompatible({ name: "arclight", baseURL: endpoint, apiKey: "none" });
    const result = await generateText({
      model: provider.chatModel(model),
      prompt: question(task),
      tools: {
        [CALCULATE]: tool({
          description: CALCULATE_DESCRIPTION,
          inputSchema: calculateInput,
          execute: async ({ expression }) => calculate(expression),
        }),
      },
      stopWhen: stepCountIs(4),
      temperature: s.temperature,
      maxOutputTokens: s.max_tokens,
      maxRetries: 0,
      experimental_telemetry: { isEnabled: true, functionId: "calculator" },
    });
    emitReward(scoreCalc(task, result.text));
  },
  { name: "calculator-ai-sdk" },
);

/** LangChain.js: ChatOpenAI with a bound tool, and the usual invoke / ToolMessage loop. */
export const langchainCalculatorAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { ChatOpenAI } = await import("@langchain/openai");
    const { tool } = await import("@langchain/core/tools");
    const { HumanMessage } = await import("@langchain/core/messages");
    const { endpoint, model } = llmOf(ctx);
    const s = sampling(ctx);
    const calculator = tool(async ({ expression }: { expression: string }) => calculate(expression), {
      name: CALCULATE,
      description: CALCULATE_DESCRIPTION,
      schema: calculateInput,
    });
    const llm = new ChatOpenAI({
      model,
      apiKey: "none",
      configuration: { baseURL: endpoint },
      temperature: s.temperature,
      maxTokens: s.max_tokens,
      maxRetries: 0,
    });
    const withTools = llm.bindTools([calculator]);
    const messages: import("@langchain/core/messages").BaseMessage[] = [new HumanMessage(question(task))];
    let answer = "";
    for (let turn = 0; turn < 4; turn++) {
      const ai = await withTools.invoke(messages);
      messages.push(ai);
      if (!ai.tool_calls?.length) {
        answer = typeof ai.content === "string" ? ai.content : JSON.stringify(ai.content);
        break;
      }
      for (const call of ai.tool_calls) messages.push(await calculator.invoke(call));
    }
    emitReward(scoreCalc(task, answer));
  },
  { name: "calculator-langchain" },
);

/** OpenAI Agents SDK: an Agent with a function tool, run by the SDK's own loop over Chat Completions. */
export const openaiAgentsCalculatorAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { Agent, run, tool, OpenAIChatCompletionsModel } = await import("@openai/agents");
    const { default: OpenAI } = await import("openai");
    const { endpoint, model } = llmOf(ctx);
    const s = sampling(ctx);
    const client = new OpenAI({ baseURL: endpoint, apiKey: "none", maxRetries: 0 });
    const agent = new Agent({
      name: "calculator",
      instructions: "Use the calculate tool, then answer with the number.",
      model: new OpenAIChatCompletionsModel(client as never, model),
      modelSettings: { temperature: s.temperature, maxTokens: s.max_tokens },
      tools: [
        tool({
          name: CALCULATE,
          description: CALCULATE_DESCRIPTION,
          parameters: calculateInput,
          execute: async ({ expression }) => calculate(expression),
        }),
      ],
    });
    const result = await run(agent, question(task), { maxTurns: 4 });
    emitReward(scoreCalc(task, String(result.finalOutput ?? "")));
  },
  { name: "calculator-openai-agents" },
);

/** Anthropic's SDK over the proxy's Messages API: tool_use / tool_result turns. */
export const anthropicCalculatorAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { default: Anthropic } = await import("@anthropic-ai/sdk");
    const { endpoint, model } = llmOf(ctx);
    const s = sampling(ctx);
    const client = new Anthropic({ baseURL: endpoint.replace(/\/v1\/?$/, ""), apiKey: "none", maxRetries: 0 });
    const tools = [
      {
        name: CALCULATE,
        description: CALCULATE_DESCRIPTION,
        input_schema: {
          type: "object" as const,
          properties: { expression: { type: "string", description: "e.g. 12*7+3" } },
          required: ["expression"],
        },
      },
    ];
    const messages: import("@anthropic-ai/sdk").Anthropic.MessageParam[] = [{ role: "user", content: question(task) }];
    let answer = "";
    for (let turn = 0; turn < 4; turn++) {
      // the Messages API takes a temperature; this SDK version's types do not list it
      const params = { model, max_tokens: s.max_tokens ?? 32, tools, messages, temperature: s.temperature };
      const r = await client.messages.create(params as import("@anthropic-ai/sdk").Anthropic.MessageCreateParamsNonStreaming);
      messages.push({ role: "assistant", content: r.content });
      const uses = r.content.filter((b): b is import("@anthropic-ai/sdk").Anthropic.ToolUseBlock => b.type === "tool_use");
      if (r.stop_reason !== "tool_use" || !uses.length) {
        answer = r.content.map((b) => (b.type === "text" ? b.text : "")).join("");
        break;
      }
      messages.push({
        role: "user",
        content: uses.map((u) => ({
          type: "tool_result" as const,
          tool_use_id: u.id,
          content: calculate(String((u.input as { expression?: unknown }).expression ?? "")),
        })),
      });
    }
    emitReward(scoreCalc(task, answer));
  },
  { name: "calculator-anthropic" },
);

/** The calculator agent in every framework, by name. */
export const FRAMEWORK_AGENTS = {
  "ai-sdk": aiSdkCalculatorAgent,
  langchain: langchainCalculatorAgent,
  "openai-agents": openaiAgentsCalculatorAgent,
  anthropic: anthropicCalculatorAgent,
} as const;

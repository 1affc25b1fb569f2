// The calculator tool task: the agent is asked for the value of an
// arithmetic expression it cannot work out itself, must call
// `calculate(expression)` and then answer with the result. The reward is
// verifiable: 1 when the answer is the expression's value. The agent below
// is a plain `openai` tool loop; tool-agent-frameworks.ts has the same agent
// in the AI SDK, LangChain.js, the OpenAI Agents SDK and Anthropic's SDK.
import OpenAI from "openai";
import { rollout, type Agent, type RolloutContext } from "../runner/agent.js";
import { emitReward } from "../tracer/index.js";
import { joinCalls, type Triplet } from "../adapter/index.js";
import type { Policy, PolicyConfig } from "../native/policy.js";
import { shuffled } from "../algorithm/policy-loop.js";
import { CALCULATE, CALL_CLOSE, CALL_OPEN, ToolTaskTokenizer } from "./tool-agent-tokenizer.js";

export interface CalcTask {
  /** e.g. "12*7+3" */
  expression: string;
  answer: number;
}

export const CALCULATE_DESCRIPTION = "Evaluate an arithmetic expression with integers, + - * and parentheses.";

/** The tool as OpenAI's `tools` array holds it. */
export const CALCULATE_TOOL = {
  type: "function" as const,
  function: {
    name: CALCULATE,
    description: CALCULATE_DESCRIPTION,
    parameters: {
      type: "object",
      properties: { expression: { type: "string", description: "e.g. 12*7+3" } },
      required: ["expression"],
      additionalProperties: false,
    },
  },
};

/** The tool itself: integer + - * and parentheses; anything else is an error text the model sees. */
export function calculate(expression: string): string {
  try {
    return String(evaluate(String(expression)));
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

function evaluate(src: string): number {
  const s = src.replace(/\s+/g, "");
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at ${i}`);
  };
  const expr = (): number => {
    let v = term();
    while (s[i] === "+" || s[i] === "-") v = s[i++] === "+" ? v + term() : v - term();
    return v;
  };
  const term = (): number => {
    let v = factor();
    while (s[i] === "*") {
      i++;
      v *= factor();
    }
    return v;
  };
  const factor = (): number => {
    if (s[i] === "-") {
      i++;
      return -factor();
    }
    if (s[i] === "(") {
      i++;
      const v = expr();
      if (s[i] !== ")") fail("missing )");
      i++;
      return v;
    }
    const m = /^\d{1,9}/.exec(s.slice(i));
    if (!m) return fail("expected a number");
    i += m[0].length;
    return Number(m[0]);
  };
  if (!s) fail("empty expression");
  const v = expr();
  if (i !== s.length) fail("unexpected text");
  if (!Number.isSafeInteger(v)) fail("result too large");
  return v;
}

/**
 * Seeded tasks `a*b+c` / `a*b-c` (a, b in 11..19, c in 1..9): products a tiny model cannot compute.
 * Every expression has 7 characters and every answer 3 digits, so copying them is a fixed shift the
 * tiny policy learns in seconds; the arithmetic stays out of its reach. Tasks whose expression is in
 * `exclude` are skipped (and others drawn instead), so a training set can leave a val set's tasks out:
 * there are only 1458 expressions, and a policy warm-started for long on a few hundred of them can fit
 * them without copying the +/- (train loss 0 while most val signs come out wrong, measured 2026-12-02).
 */
export function calculatorTasks(count: number, seed = 0, exclude: readonly CalcTask[] = []): CalcTask[] {
  if (!Number.isInteger(count) || count < 1 || count > 100_000)
    throw new RangeError(`calculatorTasks: count must be an integer in 1..100000, got ${count}`);
  if (!Array.isArray(exclude)) throw new TypeError("calculatorTasks: exclude must be an array of tasks");
  const skip = new Set(exclude.map((t) => t?.expression));
  // refuse an exclusion that leaves no expression rather than loop forever
  if ([...skip].filter((e) => typeof e === "string" && TASK_SHAPE.test(e)).length >= TASK_SPACE)
    throw new RangeError("calculatorTasks: exclude leaves no expression to draw");
  let a = seed >>> 0;
  const rand = (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
  const out: CalcTask[] = [];
  while (out.length < count) {
    const expression = `${11 + rand(9)}*${11 + rand(9)}${rand(2) ? "+" : "-"}${1 + rand(9)}`;
    if (!skip.has(expression)) out.push({ expression, answer: evaluate(expression) });
  }
  return out;
}

const TASK_SHAPE = /^1[1-9]\*1[1-9][+-][1-9]$/;
const TASK_SPACE = 9 * 9 * 2 * 9;

/**
 * The question every agent of the task asks, its last operator as a word (`what is 13*12 minus 4?`), so the
 * agent writes the expression rather than copying it. With the `+`/`-` in the question too, a 2-layer policy
 * copies every character of it but that sign: SFT on thousands of tasks stays at ln 2 per episode (the sign
 * at chance) for 1200 steps, while with the word it gets all 64 val signs right within 100 steps
 * (bench/RESULTS.md, 2026-12-02).
 */
export const question = (task: CalcTask) =>
  `what is ${task.expression.replace(/([+-])(\d+)$/, (_, op: string, c: string) => ` ${op === "+" ? "plus" : "minus"} ${c}`)}?`;

/** 1 when the reply's first integer is the answer. */
export function scoreCalc(task: CalcTask, text: string | null | undefined): number {
  const m = /-?\d+/.exec(text ?? "");
  return m && Number(m[0]) === task.answer ? 1 : 0;
}

/** Sampling settings the algorithm published for this rollout, in OpenAI's names. */
export function sampling(ctx: RolloutContext): { temperature?: number; max_tokens?: number } {
  return (ctx.llm?.samplingParameters ?? {}) as { temperature?: number; max_tokens?: number };
}

export function llmOf(ctx: RolloutContext): { endpoint: string; model: string } {
  if (!ctx.llm) throw new Error("the calculator agent needs an LLM resource (the trainer publishes one)");
  return ctx.llm;
}

/** The agent with the `openai` client: call the model with the tool until it answers in text (4 turns at most). */
export const calculatorAgent: Agent<CalcTask> = rollout(
  async (task: CalcTask, ctx) => {
    const { endpoint, model } = llmOf(ctx);
    const client = new OpenAI({ baseURL: endpoint, apiKey: "none" });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: "user", content: question(task) }];
    let answer: string | null = null;
    for (let turn = 0; turn < 4 && answer === null; turn++) {
      const r = await client.chat.completions.create({ model, messages, tools: [CALCULATE_TOOL], ...sampling(ctx) });
      const msg = r.choices[0].message;
      if (!msg.tool_calls?.length) {
        answer = msg.content ?? "";
        break;
      }
      messages.push({ role: "assistant", content: msg.content ?? "", tool_calls: msg.tool_calls });
      let computed = false;
      for (const c of msg.tool_calls) {
        if (c.type !== "function") continue;
        let expression = "";
        try {
          expression = String((JSON.parse(c.function.arguments) as { expression?: unknown }).expression ?? "");
        } catch {
          /* bad arguments: the tool says so */
        }
        const result = calculate(expression);
        computed ||= result === String(task.answer);
        messages.push({ role: "tool", tool_call_id: c.id, content: result });
      }
      // The turn's own reward, for per-turn credit ("matched"): 1 when the call computed the answer and the
      // reply was the call alone (text around it, e.g. a repeated closing tag, does not count). The episode's
      // reward stays the last one emitted, so "final" credit and val rewards are unchanged.
      emitReward(computed && !msg.content ? 1 : 0);
    }
    emitReward(scoreCalc(task, answer));
  },
  { name: "calculator" },
);

/**
 * The ideal episode, rendered with the task's chat template and split into the calls the proxy would
 * record: (prompt ids, reply ids) per turn, each prompt extending the previous prompt + reply.
 */
export function scriptedEpisode(tokenizer: ToolTaskTokenizer, task: CalcTask): { prompt: number[]; response: number[] }[] {
  const tools = [CALCULATE_TOOL];
  const call = {
    id: "call_0",
    type: "function" as const,
    function: { name: CALCULATE, arguments: JSON.stringify({ expression: task.expression }) },
  };
  const user = { role: "user", content: question(task) };
  const enc = (text: string) => tokenizer.encode(text, { allowSpecial: true });
  const p1 = enc(tokenizer.applyChatTemplate([user], { tools, addGenerationPrompt: true }));
  const r1 = [...enc(`${CALL_OPEN}${task.expression}${CALL_CLOSE}`), tokenizer.eosId];
  const p2 = enc(
    tokenizer.applyChatTemplate(
      [user, { role: "assistant", content: "", tool_calls: [call] }, { role: "tool", content: calculate(task.expression) }],
      { tools, addGenerationPrompt: true },
    ),
  );
  const r2 = [...enc(String(task.answer)), tokenizer.eosId];
  return [
    { prompt: p1, response: r1 },
    { prompt: p2, response: r2 },
  ];
}

/** The calculator task's policy: a 2-layer Qwen2-style transformer over the task vocabulary. */
export function calculatorPolicyConfig(tokenizer: ToolTaskTokenizer): Omit<PolicyConfig, "seed"> {
  return { family: "qwen2", layers: 2, dModel: 64, heads: 4, kvHeads: 2, vocab: tokenizer.vocabSize, ctx: 64 };
}

export interface WarmStartOptions {
  tasks: readonly CalcTask[];
  steps: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /**
   * Stop before `steps` once the mean SFT loss of the last 5 steps is below this: the warm start is meant to
   * teach the format and leave the rest to RL, and how many steps that takes varies with the seed (seed 1
   * reaches 0.09 in 100 steps, seed 3 is at 0.5 there, and GRPO from a policy that rarely succeeds stays at 0).
   */
  stopBelow?: number;
  onStep?: (step: number, loss: number) => void;
}

/**
 * SFT warm start on scripted episodes: each episode is joined into one sequence the way the adapter joins a
 * recorded one (joinCalls), so the model learns its own turns and never the tool's result tokens.
 */
export async function warmStart(policy: Policy, tokenizer: ToolTaskTokenizer, o: WarmStartOptions): Promise<{ losses: number[] }> {
  if (!o.tasks.length) throw new RangeError("warmStart: tasks is empty");
  if (o.stopBelow !== undefined && !(o.stopBelow > 0))
    throw new RangeError(`warmStart: stopBelow must be a positive number, got ${o.stopBelow}`);
  const batchSize = o.batchSize ?? 32;
  const order = shuffled(o.tasks, o.seed ?? 0);
  const losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    const seqs = Array.from({ length: batchSize }, (_, k) => {
      const calls = scriptedEpisode(tokenizer, order[(step * batchSize + k) % order.length]).map((c) => scriptedCall(c.prompt, c.response));
      return joinCalls(calls);
    });
    const stats = await policy.trainStep(
      { prompts: seqs.map((q) => q.prompt), responses: seqs.map((q) => q.response), mask: seqs.map((q) => q.mask) },
      { loss: "sft", lr: o.lr ?? 6e-3 },
    );
    losses.push(stats.loss);
    o.onStep?.(step + 1, stats.loss);
    if (o.stopBelow !== undefined && losses.length >= 5 && losses.slice(-5).reduce((a, b) => a + b, 0) / 5 < o.stopBelow) break;
  }
  return { losses };
}

function scriptedCall(prompt: number[], response: number[]): Triplet {
  return {
    rolloutId: "scripted",
    attemptId: "scripted",
    sequenceId: 0,
    spanId: "scripted",
    parentId: null,
    agentName: null,
    model: null,
    prompt: { tokenIds: prompt, messages: null },
    response: { tokenIds: response, logprobs: null, text: null },
    reward: null,
  };
}

export interface TrainToolAgentOptions {
  store: import("../store/lightning-store.js").LightningStore;
  seed?: number;
  /** SFT warm-start steps on scripted episodes (the tool-call format), and their learning rate. */
  warmSteps?: number;
  warmLr?: number;
  /** Stop the warm start early once its loss is below this (WarmStartOptions.stopBelow); default 0.2. */
  warmStopBelow?: number;
  /** GRPO steps after the warm start. */
  steps?: number;
  groupSize?: number;
  batchSize?: number;
  lr?: number;
  /** GRPO lr warmup: the warm start leaves AdamW's second moments small, so the first full-lr steps overshoot. */
  warmupSteps?: number;
  /** Sampling temperature of training rollouts (val is greedy). */
  temperature?: number;
  /**
   * Runners (default 1: requests reach the proxy in one order, so its seeded sampling makes the run
   * replayable; with several the order, and so the run, varies).
   */
  nRunners?: number;
  /** Credit per call and the GRPO baseline (default: each call's own reward, "matched", normalised per call position). */
  rewardAssignment?: import("../adapter/credit.js").CreditAssignment;
  baseline?: "episode" | "position";
  shape?: "call" | "episode";
  /** How the GRPO loss averages tokens (grpo's option; default each sequence weighs the same, whatever its length). */
  aggregation?: "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
  evalEvery?: number;
  trainTasks?: number;
  valTasks?: number;
  progress?: boolean;
  onStep?: (m: import("../algorithm/grpo.js").GrpoStepMetrics) => void;
  onWarmStep?: (step: number, loss: number) => void;
}

/**
 * The whole recipe: a fresh calculator policy, an SFT warm start on scripted episodes, then GRPO on the plain
 * openai agent through the proxy with per-turn credit. Returns the GRPO result with the warm-start losses.
 */
export async function trainToolAgent(o: TrainToolAgentOptions) {
  const { Policy } = await import("../native/policy.js");
  const { grpo } = await import("../algorithm/grpo.js");
  const { Trainer } = await import("../trainer/index.js");
  const seed = o.seed ?? 1;
  const tokenizer = new ToolTaskTokenizer();
  const policy = await Policy.create({ ...calculatorPolicyConfig(tokenizer), seed });
  const val = calculatorTasks(o.valTasks ?? 64, seed + 1000);
  const train = calculatorTasks(o.trainTasks ?? 256, seed, val);
  const warm = await warmStart(policy, tokenizer, {
    tasks: train,
    steps: o.warmSteps ?? 200,
    batchSize: 32,
    lr: o.warmLr ?? 6e-3,
    seed,
    stopBelow: o.warmStopBelow ?? 0.2,
    onStep: o.onWarmStep,
  });
  const algorithm = grpo({
    policy,
    tokenizer,
    chatTemplate: tokenizer.template(),
    model: "calculator",
    groupSize: o.groupSize ?? 8,
    batchSize: o.batchSize ?? 8,
    steps: o.steps ?? 40,
    lr: o.lr ?? 1e-3,
    warmupSteps: o.warmupSteps ?? 5,
    beta2: 0.99,
    maxTokens: 16,
    temperature: o.temperature ?? 0.5,
    evalTemperature: 0,
    evalEvery: o.evalEvery ?? 10,
    adapter: { rewardAssignment: o.rewardAssignment ?? "matched" },
    baseline: o.baseline ?? "position",
    shape: o.shape ?? "call",
    aggregation: o.aggregation ?? "seq-mean-token-mean",
    seed,
    progress: o.progress ?? false,
    onStep: o.onStep,
  });
  const t0 = performance.now();
  const result = await new Trainer({ store: o.store, algorithm, nRunners: o.nRunners ?? 1, log: () => {} }).fit<
    import("../algorithm/grpo.js").GrpoResult
  >(calculatorAgent, { train, val });
  return { ...result, warmLosses: warm.losses, tokenizer, seconds: (performance.now() - t0) / 1000 };
}

// The demo task: single-digit addition answered by a plain `openai` agent.
// The agent knows nothing about training; it asks the endpoint it is given
// and emits a reward. `trainArithmetic` wires it to a tiny native policy
// served through the LLM proxy and trains it with GRPO.
import OpenAI from "openai";
import { z } from "zod";
import { parseOrThrow } from "../types/index.js";
import type { LightningStore } from "../store/lightning-store.js";
import { rollout, type Agent } from "../runner/agent.js";
import { emitReward } from "../tracer/index.js";
import { Trainer } from "../trainer/index.js";
import { grpo, type GrpoResult, type GrpoStepMetrics } from "../algorithm/grpo.js";
import { Policy, type PolicyConfig } from "../native/policy.js";
import { ArithmeticTokenizer } from "./arithmetic-tokenizer.js";

export interface AdditionTask {
  a: number;
  b: number;
}

/** Every pair a, b in 0..max (max 4 keeps each answer one digit). */
export function additionTasks(max = 4): AdditionTask[] {
  if (!Number.isInteger(max) || max < 0 || max > 9) throw new RangeError(`additionTasks: max must be an integer in 0..9, got ${max}`);
  const out: AdditionTask[] = [];
  for (let a = 0; a <= max; a++) for (let b = 0; b <= max; b++) out.push({ a, b });
  return out;
}

/** 1 when the answer's leading number is a + b, else 0. */
export function scoreAnswer(task: AdditionTask, text: string): number {
  const answer = /^\s*(\d+)/.exec(text)?.[1];
  return answer === String(task.a + task.b) ? 1 : 0;
}

/** The agent: a plain OpenAI chat call on whatever endpoint the rollout is given. */
export const additionAgent: Agent<AdditionTask> = rollout(
  async (task: AdditionTask, ctx) => {
    const llm = ctx.llm;
    if (!llm) throw new Error("additionAgent needs an LLM resource (the trainer publishes one)");
    const client = new OpenAI({ baseURL: llm.endpoint, apiKey: "none" });
    const reply = await client.chat.completions.create({
      model: llm.model,
      messages: [{ role: "user", content: `${task.a}+${task.b}=` }],
      ...(llm.samplingParameters as { temperature?: number; max_tokens?: number }),
    });
    emitReward(scoreAnswer(task, reply.choices[0]?.message.content ?? ""));
  },
  { name: "adder" },
);

/** The demo's policy: a 2-layer Qwen2-style transformer over the 13-token vocabulary. */
export const ARITHMETIC_POLICY: Omit<PolicyConfig, "seed"> = {
  family: "qwen2",
  layers: 2,
  dModel: 32,
  heads: 2,
  kvHeads: 1,
  vocab: 13,
  ctx: 8,
};

const TrainArithmeticSchema = z
  .object({
    store: z.custom<LightningStore>((s) => !!s && typeof (s as LightningStore).enqueueRollout === "function", "a LightningStore"),
    steps: z.number().int().min(0).max(100_000).default(150),
    seed: z.number().int().min(0).default(1),
    nRunners: z.number().int().min(1).max(64).default(4),
    lr: z.number().positive().max(1).default(5e-3),
    groupSize: z.number().int().min(2).max(64).default(8),
    batchSize: z.number().int().min(1).max(256).default(16),
    maxDigit: z.number().int().min(0).max(4).default(4),
    evalEvery: z.number().int().min(0).default(0),
    beta2: z.number().min(0).max(0.999999999).default(0.99),
    updatesPerBatch: z.number().int().min(1).max(16).default(1),
    /**
     * Answer tokens. 1 (default): the answer is one digit token, which GRPO
     * learns in about a hundred steps. Longer answers need a calmer optimizer
     * and an entropy bonus (lr 2e-3, entropyCoef 0.2) and several hundred
     * steps: at lr 5e-3 / beta2 0.99 the noise of the extra tokens collapses
     * the policy onto one context-free answer (bench/RESULTS.md, "multi-token GRPO").
     */
    maxTokens: z.number().int().min(1).max(4).default(1),
    /** Entropy bonus (loss -= entropyCoef * entropy); keeps sampling diverse while the prompt is still ignored. */
    entropyCoef: z.number().min(0).max(10).default(0),
    checkpointDir: z.string().min(1).optional(),
    progress: z.boolean().default(true),
    policy: z.custom<Policy>((p) => p === undefined || (!!p && typeof (p as Policy).trainStep === "function")).optional(),
    onStep: z.custom<(m: GrpoStepMetrics) => void>((f) => f === undefined || typeof f === "function").optional(),
    log: z.custom<(line: string) => void>((f) => f === undefined || typeof f === "function").optional(),
  })
  .strict();
export type TrainArithmeticOptions = z.input<typeof TrainArithmeticSchema>;

export interface TrainArithmeticResult extends GrpoResult {
  tasks: AdditionTask[];
  seconds: number;
}

/**
 * Trains the addition agent with GRPO through the proxy. Every task is both
 * trained and evaluated on: the point is that the unchanged agent improves,
 * and the val mean (greedy) is over the whole task set.
 */
export async function trainArithmetic(options: TrainArithmeticOptions): Promise<TrainArithmeticResult> {
  const o = parseOrThrow(TrainArithmeticSchema, options, "trainArithmetic");
  const tasks = additionTasks(o.maxDigit);
  const policy = o.policy ?? (await Policy.create({ ...ARITHMETIC_POLICY, seed: o.seed }));
  const tokenizer = new ArithmeticTokenizer();
  const algorithm = grpo({
    policy,
    tokenizer,
    groupSize: o.groupSize,
    batchSize: o.batchSize,
    steps: o.steps,
    lr: o.lr,
    beta2: o.beta2,
    updatesPerBatch: o.updatesPerBatch,
    maxTokens: o.maxTokens,
    entropyCoef: o.entropyCoef,
    temperature: 1,
    evalTemperature: 0,
    evalEvery: o.evalEvery,
    seed: o.seed,
    checkpointDir: o.checkpointDir,
    progress: o.progress,
    onStep: o.onStep,
  });
  const t0 = performance.now();
  const trainer = new Trainer({ store: o.store, algorithm, nRunners: o.nRunners, log: o.log ?? (() => {}) });
  const result = await trainer.fit<GrpoResult>(additionAgent, { train: tasks, val: tasks });
  return { ...result, tasks, seconds: (performance.now() - t0) / 1000 };
}

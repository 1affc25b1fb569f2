// A seeded toy experiment written through the store API: arithmetic tasks,
// one "agent" whose LLM calls get better with each training step, rewards
// with two dimensions. For notebooks, tests and benchmarks that need a
// realistic store without a model.

import { randomBytes } from "node:crypto";
import type { LightningStore } from "../store/lightning-store.js";
import { ValidationError } from "../types/errors.js";
import { AGL, GEN_AI } from "../types/semconv.js";
import type { Attributes, Span } from "../types/span.js";

export interface SyntheticRunOptions {
  /** Rollouts in all, spread evenly over the steps (default 24). */
  rollouts?: number;
  /** Training steps; each publishes a resources version and tags its rollouts with metadata.step (default 4). */
  steps?: number;
  /** LLM calls per rollout (default 2). */
  llmCalls?: number;
  seed?: number;
  /** Epoch ms of the first span (default 2026-01-01T00:00:00Z, so runs are reproducible). */
  startTime?: number;
  agentName?: string;
  model?: string;
}

/** Mulberry32: small, fast and good enough for toy data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hex(rand: () => number, digits: number): string {
  let s = "";
  while (s.length < digits)
    s += Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return s.slice(0, digits);
}

export interface SyntheticRun {
  rolloutIds: string[];
  spans: number;
}

type Draft = Omit<Span, "sequenceId">;

/** Writes a finished toy experiment into `store` and returns its rollout ids. */
export async function writeSyntheticRun(store: LightningStore, opts: SyntheticRunOptions = {}): Promise<SyntheticRun> {
  const n = opts.rollouts ?? 24;
  const steps = opts.steps ?? 4;
  const calls = opts.llmCalls ?? 2;
  for (const [k, v] of [
    ["rollouts", n],
    ["steps", steps],
    ["llmCalls", calls],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new ValidationError("writeSyntheticRun", [`${k} must be a positive integer, got ${v}`]);
  const rand = seededRandom(opts.seed ?? 1);
  const idRand = seededRandom(((opts.seed ?? 1) ^ 0x5bd1e995) >>> 0);
  const agent = opts.agentName ?? "solver";
  const model = opts.model ?? "tiny-policy";
  let clock = opts.startTime ?? Date.UTC(2026, 0, 1);
  const resourceIds: string[] = [];
  for (let s = 0; s < steps; s++) {
    const r = await store.addResources(
      {
        prompt: { resourceType: "prompt_template", template: `Step ${s + 1}: answer with the number only. {question}`, engine: "f-string" },
      },
      `step-${s + 1}-${hex(rand, 6)}`,
    );
    resourceIds.push(r.resourcesId);
  }
  const rolloutIds: string[] = [];
  let spanCount = 0;
  for (let i = 0; i < n; i++) {
    const step = Math.min(steps, Math.floor((i * steps) / n) + 1);
    const a = Math.floor(rand() * 50);
    const b = Math.floor(rand() * 50);
    const ro = await store.startRollout({
      // Same seed, same rollout ids (a stream of its own, so the data stays what it was).
      rolloutId: `ro-${hex(idRand, 16)}`,
      input: { question: `What is ${a} + ${b}?`, answer: a + b },
      mode: "train",
      resourcesId: resourceIds[step - 1],
      metadata: { step },
    });
    rolloutIds.push(ro.rolloutId);
    const traceId = hex(rand, 32);
    const rootId = hex(rand, 16);
    const skill = 0.25 + (0.6 * step) / steps;
    const drafts: Draft[] = [];
    const rootStart = clock;
    let correct = false;
    let formatted = true;
    for (let c = 0; c < calls; c++) {
      const start = clock + 5 + rand() * 20;
      const latency = 80 + rand() * 400 + (c === 0 ? 150 : 0);
      correct = rand() < skill;
      const answer = correct ? a + b : a + b + 1 + Math.floor(rand() * 5);
      formatted = rand() < 0.5 + step / (2 * steps);
      const text = formatted ? String(answer) : `The answer is ${answer}.`;
      const question = `What is ${a} + ${b}?`;
      const inTok = 20 + Math.floor(rand() * 30) + c * 15;
      const outTok = formatted ? 2 : 6;
      const attrs: Attributes = {
        [GEN_AI.operationName]: "chat",
        [GEN_AI.system]: "openai",
        [GEN_AI.requestModel]: model,
        [GEN_AI.responseModel]: model,
        [GEN_AI.usageInputTokens]: inTok,
        [GEN_AI.usageOutputTokens]: outTok,
        [GEN_AI.responseFinishReasons]: ["stop"],
        [GEN_AI.inputMessages]: JSON.stringify([
          { role: "system", content: "Answer with the number only." },
          { role: "user", content: c === 0 ? question : `${question} Check your previous answer.` },
        ]),
        [GEN_AI.outputMessages]: JSON.stringify([{ role: "assistant", content: text }]),
        [GEN_AI.promptTokenIds]: Array.from({ length: inTok }, () => Math.floor(rand() * 1000)),
        [GEN_AI.completionTokenIds]: Array.from({ length: outTok }, () => Math.floor(rand() * 1000)),
        [AGL.attrs.agentName]: agent,
      };
      drafts.push(span(ro.rolloutId, ro.attempt.attemptId, traceId, hex(rand, 16), rootId, `chat ${model}`, start, start + latency, attrs));
      clock = start + latency;
    }
    const rewardAt = clock + 1;
    drafts.push(
      span(ro.rolloutId, ro.attempt.attemptId, traceId, hex(rand, 16), rootId, AGL.spans.reward, rewardAt, rewardAt, {
        [AGL.attrs.reward]: JSON.stringify({ correct: correct ? 1 : 0, format: formatted ? 1 : 0 }),
        "agentlightning.reward.0.name": "correct",
        "agentlightning.reward.0.value": correct ? 1 : 0,
        "agentlightning.reward.1.name": "format",
        "agentlightning.reward.1.value": formatted ? 1 : 0,
      }),
    );
    drafts.unshift(
      span(ro.rolloutId, ro.attempt.attemptId, traceId, rootId, null, "agent.run", rootStart, rewardAt + 1, {
        [AGL.attrs.agentName]: agent,
      }),
    );
    await store.addSpans(drafts);
    spanCount += drafts.length;
    await store.updateAttempt(ro.rolloutId, ro.attempt.attemptId, { status: "succeeded" });
    clock = rewardAt + 50 + rand() * 200;
  }
  return { rolloutIds, spans: spanCount };
}

function span(
  rolloutId: string,
  attemptId: string,
  traceId: string,
  spanId: string,
  parentId: string | null,
  name: string,
  start: number,
  end: number,
  attributes: Attributes,
): Draft {
  return {
    rolloutId,
    attemptId,
    traceId,
    spanId,
    parentId,
    name,
    status: { statusCode: "OK", description: null },
    attributes,
    events: [],
    links: [],
    startTime: start,
    endTime: end,
    resource: { attributes: { "service.name": "arclight-synthetic" }, schemaUrl: "" },
  };
}

/** A random span id, for callers adding spans by hand. */
export function newSpanId(): string {
  return randomBytes(8).toString("hex");
}

export function newTraceId(): string {
  return randomBytes(16).toString("hex");
}

// What GRPO and SFT share: serving the policy through the LLM proxy,
// running groups of rollouts on it, reading back (ids, logprobs, reward)
// samples, evaluating on the val set, and checkpoints that resume.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { LightningStore } from "../store/lightning-store.js";
import type { NamedResources, Rollout } from "../types/index.js";
import { LlmProxy, PolicyBackend, type GeneratorLike, type TokenizerLike } from "../llm/index.js";
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import { episodeSequences, spansToTriplets, type AdapterOptions, type Triplet } from "../adapter/index.js";
import type { AdvantageOptions } from "../native/advantages.js";
import { turnAdvantages, type AdvantageBaseline } from "./turn-advantages.js";
import { finalReward } from "../adapter/rewards.js";
import { waitAll } from "./baseline.js";
import type { AlgorithmContext } from "./algorithm.js";
import { MetricsLog } from "./metrics.js";

export interface Sample {
  prompt: number[];
  response: number[];
  logprobs: number[];
  /** 1 = train on the response token, 0 = not (tokens between calls in an episode sample); absent: all trained. */
  mask?: number[];
  /** The call's credit (src/adapter/credit.ts); for an episode sample, that of its first call. */
  reward: number;
  /** Group-relative advantage, when the caller asked for them (GRPO). */
  advantage?: number;
  group: number;
  rolloutId: string;
  /** Indices of the episode's calls this sample trains (one, or a run of them for an episode sample). */
  calls: number[];
}

/**
 * How a multi-call rollout becomes samples: "call" (one per LLM call, its prompt holding the history as
 * context) or "episode" (one masked sequence per episode, or per run of calls with equal advantage, when
 * each prompt extends the previous prompt + response token for token; falls back to "call" otherwise).
 */
export type SampleShape = "call" | "episode";

export interface SampleOptions {
  shape?: SampleShape;
  /** Compute group-relative advantages from the credits (GRPO). */
  advantages?: AdvantageOptions & { baseline?: AdvantageBaseline };
}

export interface CollectedSamples {
  samples: Sample[];
  /** Final reward of each rollout, in order (0 for failed ones). */
  rewards: number[];
  /** Rollouts asked for as episodes that had to be split per call, and why. */
  fallbacks: { rolloutId: string; reason: string }[];
}

export interface Served {
  proxy: LlmProxy;
  trainResourcesId: string;
  evalResourcesId: string;
  close(): Promise<void>;
}

/** How servePolicy samples: training and eval temperatures, the token limit, the seed, the other models it serves. */
export interface ServeSampling {
  temperature: number;
  maxTokens: number;
  evalTemperature: number;
  seed: number;
  chatTemplate?: ChatTemplate;
  policies?: Record<string, GeneratorLike>;
}

/**
 * Starts the proxy over `policy` (as `model`, plus `policies` by name) and publishes two resource sets:
 * sampling for training, greedy-ish for eval. Their `llm` names `model`; agents reach the others at the
 * same endpoint by asking for their names.
 */
export async function servePolicy(
  store: LightningStore,
  policy: GeneratorLike,
  tokenizer: TokenizerLike,
  model: string,
  sampling: ServeSampling,
): Promise<Served> {
  const backend = new PolicyBackend({
    policy,
    tokenizer,
    model,
    seed: sampling.seed,
    ...(sampling.policies ? { policies: sampling.policies } : {}),
    ...(sampling.chatTemplate ? { chatTemplate: sampling.chatTemplate } : {}),
  });
  const proxy = await new LlmProxy({ backend, store, defaultMaxTokens: sampling.maxTokens }).start();
  const llm = (temperature: number): NamedResources => ({
    llm: { ...proxy.resource(model), samplingParameters: { temperature, max_tokens: sampling.maxTokens } },
  });
  const train = await store.addResources(llm(sampling.temperature));
  const evalRes = await store.addResources(llm(sampling.evalTemperature));
  return { proxy, trainResourcesId: train.resourcesId, evalResourcesId: evalRes.resourcesId, close: () => proxy.close() };
}

/**
 * Serves `policy` through the proxy and opens the algorithm's metrics rollout for the length of
 * `body`; both are closed however it ends (the metrics attempt fails when body throws).
 */
export async function withServedPolicy<R>(
  ctx: AlgorithmContext,
  serve: ServeSampling & { policy: GeneratorLike; tokenizer: TokenizerLike; model: string },
  algorithm: string,
  config: Record<string, unknown>,
  body: (served: Served, metrics: MetricsLog) => Promise<R>,
): Promise<R> {
  const served = await servePolicy(ctx.store, serve.policy, serve.tokenizer, serve.model, serve);
  let metrics: MetricsLog;
  try {
    metrics = await MetricsLog.open(ctx.store, algorithm, config);
  } catch (e) {
    await served.close();
    throw e;
  }
  let error: unknown = null;
  try {
    return await body(served, metrics);
  } catch (e) {
    error = e;
    throw e;
  } finally {
    await metrics.close(error).catch(() => {});
    await served.close();
  }
}

/** Enqueues each task `groupSize` times (one group per task) and waits for all of them. */
export async function runGroups(
  ctx: AlgorithmContext,
  tasks: readonly unknown[],
  groupSize: number,
  resourcesId: string,
  metadata: Record<string, unknown>,
  groupBase: number,
): Promise<Rollout[]> {
  const reqs = tasks.flatMap((input, g) =>
    Array.from({ length: groupSize }, () => ({
      input,
      mode: "train" as const,
      resourcesId,
      config: ctx.rolloutConfig,
      metadata: { ...metadata, group: groupBase + g },
    })),
  );
  const rollouts = await ctx.store.enqueueManyRollouts(reqs);
  return waitAll(
    ctx.store,
    rollouts.map((r) => r.rolloutId),
    ctx.signal,
  );
}

/**
 * Training samples of finished rollouts: every LLM call with token ids, credited under the adapter's
 * rewardAssignment ("final" unless set), shaped per `opts.shape`, with advantages when asked.
 */
export async function collectSamples(
  store: LightningStore,
  rollouts: readonly Rollout[],
  adapter: AdapterOptions,
  opts: SampleOptions = {},
): Promise<CollectedSamples> {
  const { rewards, episodes } = await readEpisodes(store, rollouts, adapter);
  return { rewards, ...shapeSamples(episodes, opts) };
}

/**
 * collectSamples for several served models at once (one adapter per agent): each model's samples come
 * only from the calls recorded under its name, and their advantages are formed among those calls alone
 * (its group's episodes restricted to that agent). Credit is assigned over each rollout's calls first,
 * so a reward that follows a call goes to that call whichever agent made it.
 */
export async function collectSamplesByModel(
  store: LightningStore,
  rollouts: readonly Rollout[],
  adapter: AdapterOptions,
  models: readonly string[],
  opts: SampleOptions = {},
): Promise<{ byModel: Map<string, Sample[]>; rewards: number[]; fallbacks: CollectedSamples["fallbacks"] }> {
  const { rewards, episodes } = await readEpisodes(store, rollouts, adapter);
  const byModel = new Map<string, Sample[]>();
  const fallbacks: CollectedSamples["fallbacks"] = [];
  for (const model of models) {
    const own = episodes
      .map((e) => {
        const keep = e.calls.flatMap((t, k) => (t.model === model ? [k] : []));
        return { ...e, calls: keep.map((k) => e.calls[k]), credit: keep.map((k) => e.credit[k]) };
      })
      .filter((e) => e.calls.length > 0);
    const shaped = shapeSamples(own, opts);
    byModel.set(model, shaped.samples);
    fallbacks.push(...shaped.fallbacks);
  }
  return { byModel, rewards, fallbacks };
}

interface Episode {
  rolloutId: string;
  group: number;
  calls: Triplet[];
  credit: number[];
}

/** Final reward of each rollout, and the trainable calls (with token ids) of the succeeded ones. */
async function readEpisodes(
  store: LightningStore,
  rollouts: readonly Rollout[],
  adapter: AdapterOptions,
): Promise<{ rewards: number[]; episodes: Episode[] }> {
  const rewards: number[] = [];
  const episodes: Episode[] = [];
  for (const r of rollouts) {
    const spans = await store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" });
    const reward = r.status === "succeeded" ? (finalReward(spans) ?? 0) : 0;
    rewards.push(reward);
    if (r.status !== "succeeded") continue;
    const calls = spansToTriplets(spans, {
      ...adapter,
      rewardAssignment: adapter.rewardAssignment ?? "final",
      requireTokenIds: true,
    }).filter((t) => t.response.tokenIds!.length > 0 && t.prompt.tokenIds!.length > 0);
    if (!calls.length) continue;
    episodes.push({
      rolloutId: r.rolloutId,
      group: Number((r.metadata as { group?: unknown }).group ?? 0),
      calls,
      credit: calls.map((t) => t.reward ?? 0),
    });
  }
  return { rewards, episodes };
}

function shapeSamples(episodes: readonly Episode[], opts: SampleOptions): Omit<CollectedSamples, "rewards"> {
  const adv = opts.advantages ? turnAdvantages(episodes, opts.advantages.baseline ?? "episode", opts.advantages) : null;
  const samples: Sample[] = [];
  const fallbacks: CollectedSamples["fallbacks"] = [];
  episodes.forEach((e, i) => {
    const common = { group: e.group, rolloutId: e.rolloutId };
    if (opts.shape === "episode") {
      const joined = episodeSequences(e.calls, adv ? adv[i] : e.credit);
      if (joined.sequences) {
        for (const q of joined.sequences)
          samples.push({
            ...common,
            prompt: q.prompt,
            response: q.response,
            logprobs: q.logprobs ?? [],
            mask: q.mask,
            reward: e.credit[q.calls[0]],
            ...(adv ? { advantage: adv[i][q.calls[0]] } : {}),
            calls: q.calls,
          });
        return;
      }
      fallbacks.push({ rolloutId: e.rolloutId, reason: joined.reason });
    }
    e.calls.forEach((t, k) =>
      samples.push({
        ...common,
        prompt: t.prompt.tokenIds!,
        response: t.response.tokenIds!,
        logprobs: t.response.logprobs ?? [],
        reward: e.credit[k],
        ...(adv ? { advantage: adv[i][k] } : {}),
        calls: [k],
      }),
    );
  });
  return { samples, fallbacks };
}

/** Mean final reward over the val set, one rollout per task, on the eval resources. */
export async function evaluate(ctx: AlgorithmContext, resourcesId: string, step: number): Promise<number | null> {
  if (!ctx.val.length) return null;
  const rollouts = await ctx.store.enqueueManyRollouts(
    ctx.val.map((input) => ({ input, mode: "val" as const, resourcesId, config: ctx.rolloutConfig, metadata: { step } })),
  );
  const done = await waitAll(
    ctx.store,
    rollouts.map((r) => r.rolloutId),
    ctx.signal,
  );
  let sum = 0;
  for (const r of done)
    sum += r.status === "succeeded" ? (finalReward(await ctx.store.querySpans({ rolloutId: r.rolloutId, attemptId: "latest" })) ?? 0) : 0;
  return sum / done.length;
}

export const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
export const std = (xs: readonly number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

/** Seeded shuffle (mulberry32), so a run's task order is reproducible. */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export interface CheckpointState {
  step: number;
  path: string;
  history: unknown[];
}

/** Writes weights then `latest.json` (atomically), so a crash leaves the previous checkpoint usable. */
export async function saveCheckpoint(
  dir: string,
  step: number,
  save: (path: string) => Promise<void>,
  history: unknown[],
): Promise<CheckpointState> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `step-${String(step).padStart(6, "0")}.safetensors`);
  await save(path);
  const state: CheckpointState = { step, path, history };
  await writeFile(join(dir, "latest.json.tmp"), JSON.stringify(state));
  await rename(join(dir, "latest.json.tmp"), join(dir, "latest.json"));
  return state;
}

export async function latestCheckpoint(dir: string | undefined): Promise<CheckpointState | null> {
  if (!dir || !existsSync(join(dir, "latest.json"))) return null;
  const state = JSON.parse(await readFile(join(dir, "latest.json"), "utf8")) as CheckpointState;
  return existsSync(state.path) ? state : null;
}

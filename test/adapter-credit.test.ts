// Per-call credit, the trace tree, episode sequences and per-turn advantages,
// each against numbers worked out by hand in the comments.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { assignCredit, checkPrefix, episodeSequences, rewardEvents, spansToTriplets, type Triplet } from "../src/adapter/index.js";
import { turnAdvantages } from "../src/algorithm/turn-advantages.js";
import { groupAdvantages } from "../src/native/advantages.js";
import { ValidationError, type Span } from "../src/types/index.js";

let seq = 0;
function span(name: string, attributes: Span["attributes"], parentId: string | null = null): Span {
  seq++;
  return {
    rolloutId: "ro-1",
    attemptId: "at-1",
    sequenceId: seq,
    traceId: `${"0".repeat(31)}1`,
    spanId: seq.toString(16).padStart(16, "0"),
    parentId,
    name,
    status: { statusCode: "UNSET" },
    attributes,
    events: [],
    links: [],
    startTime: 1000 + seq,
    endTime: 1000 + seq,
    resource: { attributes: {}, schemaUrl: "" },
  };
}
const call = (prompt: number[], completion: number[], parentId: string | null = null, extra: Span["attributes"] = {}) =>
  span(
    "chat m",
    {
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "m",
      "gen_ai.prompt.token_ids": prompt,
      "gen_ai.completion.token_ids": completion,
      "gen_ai.completion.logprobs": completion.map(() => -0.5),
      ...extra,
    },
    parentId,
  );
const reward = (v: number) =>
  span("agentlightning.reward", { "agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": v });

// A, reward 0.2, B, C, reward 1: the episode every credit test uses.
function episode(): Span[] {
  seq = 0;
  return [call([1], [2]), reward(0.2), call([3], [4]), call([5], [6]), reward(1)];
}
const credits = (opts: Parameters<typeof spansToTriplets>[1]) => spansToTriplets(episode(), opts).map((t) => t.reward);

test("final credit gives every call the episode's last reward", () => {
  assert.deepEqual(credits({ rewardAssignment: "final" }), [1, 1, 1]);
});

test("matched credit gives a reward to the call before it and none to calls no reward follows", () => {
  assert.deepEqual(credits({ rewardAssignment: "matched" }), [0.2, null, 1]);
});

test("discounted credit is the return over the following calls", () => {
  // r = [0.2, 0, 1]; gamma 0.5: G_C = 1, G_B = 0 + 0.5 * 1 = 0.5, G_A = 0.2 + 0.5 * 0.5 = 0.45
  assert.deepEqual(credits({ rewardAssignment: "discounted", gamma: 0.5 }), [0.45, 0.5, 1]);
  // gamma 1 (default): return-to-go = [1.2, 1, 1]
  assert.deepEqual(credits({ rewardAssignment: "discounted" }), [1.2, 1, 1]);
  // gamma 0: matched, with 0 for calls no reward follows
  assert.deepEqual(credits({ rewardAssignment: "discounted", gamma: 0 }), [0.2, 0, 1]);
});

test("a credit function sees the calls and where each reward fell", () => {
  let seen: unknown = null;
  const r = credits({
    rewardAssignment: (calls, rewards) => {
      seen = rewards.map((x) => [x.value, x.afterCall]);
      // how many rewards came at or after each call: [2, 1, 1]
      return calls.map((_, i) => rewards.filter((x) => x.afterCall >= i).length);
    },
  });
  assert.deepEqual(seen, [
    [0.2, 0],
    [1, 2],
  ]);
  assert.deepEqual(r, [2, 1, 1]);
});

test("a credit function returning the wrong shape or throwing is a clear error", () => {
  assert.throws(
    () => credits({ rewardAssignment: () => [1] }),
    (e: Error) => e instanceof ValidationError && /number\[3\]/.test(e.message),
  );
  assert.throws(() => credits({ rewardAssignment: () => [1, NaN, 1] }), /credit\[1\] must be a finite number/);
  assert.throws(
    () =>
      credits({
        rewardAssignment: () => {
          throw new Error("boom");
        },
      }),
    /threw: boom/,
  );
  assert.throws(() => credits({ rewardAssignment: "discounted", gamma: 2 }), ValidationError);
});

test("a reward before any call counts for final credit only", () => {
  const calls = [{ sequenceId: 5 }, { sequenceId: 9 }];
  const ev = rewardEvents(calls, [{ value: 3, sequenceId: 1 }]);
  assert.deepEqual(ev, [{ value: 3, sequenceId: 1, afterCall: -1 }]);
  assert.deepEqual(assignCredit(calls, ev, "final"), [3, 3]);
  assert.deepEqual(assignCredit(calls, ev, "matched"), [null, null]);
  assert.deepEqual(assignCredit(calls, ev, "discounted"), [0, 0]);
});

test("discounted credit equals the sum of gamma-weighted matched rewards (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.double({ min: -5, max: 5, noNaN: true }), { nil: undefined }), { minLength: 1, maxLength: 8 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (rs, gamma) => {
        // calls at even sequence ids, call i's optional reward right after it
        const calls = rs.map((_, i) => ({ sequenceId: 2 * i }));
        const rewards = rs.flatMap((r, i) => (r === undefined ? [] : [{ value: r, sequenceId: 2 * i + 1 }]));
        const got = assignCredit(calls, rewardEvents(calls, rewards), "discounted", gamma) as number[];
        rs.forEach((_, i) => {
          let want = 0;
          for (let j = i; j < rs.length; j++) want += gamma ** (j - i) * (rs[j] ?? 0);
          assert.ok(Math.abs(got[i] - want) < 1e-9, `call ${i}: ${got[i]} vs ${want}`);
        });
      },
    ),
  );
});

test("agentMatch selects the LLM calls under an agent span, and a wrapping call span gives way to the inner one", () => {
  seq = 0;
  const agentSpan = span("agent planner", { "agentlightning.agent.name": "planner" });
  const other = span("agent critic", { "gen_ai.agent.name": "critic" });
  // a framework's own call span (AI SDK provider call) wrapping the client's span, which has the token ids
  const wrapper = span(
    "ai.generateText.doGenerate",
    { "ai.operationId": "ai.generateText.doGenerate", "gen_ai.request.model": "m" },
    agentSpan.spanId,
  );
  const spans = [
    agentSpan,
    other,
    wrapper,
    call([1], [2], wrapper.spanId),
    call([3], [4], agentSpan.spanId),
    call([5], [6], other.spanId),
    reward(1),
  ];
  const all = spansToTriplets(spans, { rewardAssignment: "final" });
  assert.deepEqual(
    all.map((t) => t.prompt.tokenIds),
    [[1], [3], [5]],
  );
  assert.deepEqual(
    all.map((t) => t.agentName),
    ["planner", "planner", "critic"],
  );
  assert.equal(all[0].parentId, wrapper.spanId);
  assert.deepEqual(
    spansToTriplets(spans, { agentMatch: "planner" }).map((t) => t.prompt.tokenIds),
    [[1], [3]],
  );
  assert.deepEqual(
    spansToTriplets(spans, { agentMatch: /crit/ }).map((t) => t.prompt.tokenIds),
    [[5]],
  );
  // llmCallMatch picks the call spans by name: the wrapper alone counts now
  assert.deepEqual(
    spansToTriplets(spans, { llmCallMatch: /^ai\./ }).map((t) => t.spanId),
    [wrapper.spanId],
  );
  assert.deepEqual(spansToTriplets(spans, { llmCallMatch: (s) => s.name === "chat m" }).length, 3);
});

test("a parent cycle in malformed spans does not hang the tree", () => {
  seq = 0;
  const a = call([1], [2]);
  const b = call([3], [4], a.spanId);
  a.parentId = b.spanId;
  // the edge closing the cycle is dropped: one span then holds the other, and the inner one is the call
  assert.equal(spansToTriplets([a, b]).length, 1);
});

function triplet(prompt: number[] | null, response: number[] | null, logprobs?: number[]): Triplet {
  return {
    rolloutId: "r",
    attemptId: "a",
    sequenceId: 0,
    spanId: "s",
    parentId: null,
    agentName: null,
    model: null,
    prompt: { tokenIds: prompt, messages: null },
    response: { tokenIds: response, logprobs: logprobs ?? response?.map(() => -1) ?? null, text: null },
    reward: null,
  };
}

test("an episode whose prompts extend each other becomes one sequence with tool tokens masked", () => {
  const calls = [
    triplet([1, 2], [3, 4], [-1, -2]),
    triplet([1, 2, 3, 4, 9, 9], [5], [-3]),
    triplet([1, 2, 3, 4, 9, 9, 5, 8], [6, 7], [-4, -5]),
  ];
  assert.deepEqual(checkPrefix(calls), { ok: true });
  const one = episodeSequences(calls, [1, 1, 1]);
  assert.ok(one.sequences);
  assert.deepEqual(one.sequences, [
    {
      prompt: [1, 2],
      response: [3, 4, 9, 9, 5, 8, 6, 7],
      mask: [1, 1, 0, 0, 1, 0, 1, 1],
      logprobs: [-1, -2, 0, 0, -3, 0, -4, -5],
      calls: [0, 1, 2],
    },
  ]);
  // calls with different advantages split into runs; a later run keeps earlier turns in its prompt
  const split = episodeSequences(calls, [0.5, 0.5, -1]);
  assert.deepEqual(
    split.sequences!.map((q) => [q.prompt, q.response, q.mask, q.calls]),
    [
      [
        [1, 2],
        [3, 4, 9, 9, 5],
        [1, 1, 0, 0, 1],
        [0, 1],
      ],
      [[1, 2, 3, 4, 9, 9, 5, 8], [6, 7], [1, 1], [2]],
    ],
  );
});

test("a broken prefix is detected and says where", () => {
  const calls = [triplet([1, 2], [3, 4]), triplet([1, 2, 3, 7, 9], [5])];
  const r = episodeSequences(calls, [1, 1]);
  assert.equal(r.sequences, null);
  assert.match((r as { reason: string }).reason, /call 1's prompt differs from call 0's prompt \+ response at token 3 \(4 -> 7\)/);
  assert.match((checkPrefix([triplet([1], [2]), triplet([1], [3])]) as { reason: string }).reason, /shorter/);
  assert.match((checkPrefix([triplet([1], null)]) as { reason: string }).reason, /no token ids/);
});

test("episode-baseline advantages under final credit are GRPO on rollout rewards, however many calls", () => {
  // X: 2 calls, reward 1; Y: 1 call, reward 0. Values 1 and 0: mean 0.5, std sqrt(0.5) = 0.70711,
  // A = +-0.5 / (0.70711 + 1e-4) = +-0.70701
  const adv = turnAdvantages(
    [
      { group: 0, credit: [1, 1] },
      { group: 0, credit: [0] },
    ],
    "episode",
  );
  const [a, b] = groupAdvantages([1, 0], [0, 0]);
  assert.ok(Math.abs(a - 0.70701) < 1e-5);
  assert.deepEqual(adv, [[a, a], [b]]);
});

test("per-turn advantages by episode and by call position, hand-computed", () => {
  const eps = [
    { group: 0, credit: [0.5, 1] },
    { group: 0, credit: [0.25, 0] },
    { group: 0, credit: [0.75] },
    { group: 1, credit: [3] }, // alone in its group: advantage 0
  ];
  // position 0: [0.5, 0.25, 0.75], mean 0.5, std 0.25 -> [0, -1, 1] * 0.25 / 0.2501 = 0.99960
  // position 1: [1, 0], mean 0.5, std 0.70711 -> +-0.70701
  const pos = turnAdvantages(eps, "position");
  const want = [[0, 0.70701], [-0.9996, -0.70701], [0.9996], [0]];
  pos.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - want[i][k]) < 1e-4, `position ${i},${k}: ${v}`)));
  // episode values [0.75, 0.125, 0.75]: mean 0.541667, std 0.360844; A = (c - mean) / (std + 1e-4)
  const ep = turnAdvantages(eps, "episode");
  const wantEp = [[-0.115438, 1.269819], [-0.808066, -1.500695], [0.57719], [0]];
  ep.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - wantEp[i][k]) < 1e-4, `episode ${i},${k}: ${v}`)));
  // RLOO: call minus the mean of the other episodes' values: X[1] = 1 - (0.125 + 0.75) / 2 = 0.5625
  assert.ok(Math.abs(turnAdvantages(eps, "episode", { estimator: "rloo" })[0][1] - 0.5625) < 1e-12);
  // Dr. GRPO (no std): X[0] = 0.5 - 0.541667
  assert.ok(Math.abs(turnAdvantages(eps, "episode", { normalizeStd: false })[0][0] + 0.041667) < 1e-5);
});

test("with requireTokenIds, a framework's id-less record of a call does not take the reward that follows it", () => {
  seq = 0;
  // the proxy's record (ids) ends first, the AI SDK's provider span for the same call (no ids) after it
  const spans = [
    call([1], [2]),
    span("ai.generateText.doGenerate", { "ai.operationId": "ai.generateText.doGenerate", "gen_ai.request.model": "m" }),
    reward(0.5),
  ];
  assert.deepEqual(
    spansToTriplets(spans, { rewardAssignment: "matched" }).map((t) => t.reward),
    [null, 0.5],
  );
  assert.deepEqual(
    spansToTriplets(spans, { rewardAssignment: "matched", requireTokenIds: true }).map((t) => [t.prompt.tokenIds, t.reward]),
    [[[1], 0.5]],
  );
});

test("collectSamples shapes a multi-call rollout as one masked episode sample, and falls back per call saying why when the prefix breaks", async () => {
  const { openStore } = await import("../src/store/index.js");
  const { collectSamples } = await import("../src/algorithm/policy-loop.js");
  const store = await openStore();
  const rollout = async (group: number, second: number[]) => {
    const r = await store.startRollout({ input: null, metadata: { group } });
    const add = (s: Span) => store.addSpan({ ...s, rolloutId: r.rolloutId, attemptId: r.attempt.attemptId, sequenceId: undefined });
    seq = 0;
    await add(call([1, 2], [3, 4]));
    await add(call(second, [5]));
    await add(reward(group === 0 ? 1 : 0));
    await store.updateAttempt(r.rolloutId, "latest", { status: "succeeded" });
    return (await store.getRolloutById(r.rolloutId))!;
  };
  const good = await rollout(0, [1, 2, 3, 4, 9]);
  const broken = await rollout(1, [1, 2, 7, 9]);
  const out = await collectSamples(store, [good, broken], {}, { shape: "episode", advantages: { baseline: "episode" } });
  assert.deepEqual(out.rewards, [1, 0]);
  const ep = out.samples.filter((s) => s.rolloutId === good.rolloutId);
  assert.deepEqual(
    ep.map((s) => [s.prompt, s.response, s.mask, s.calls]),
    [
      [
        [1, 2],
        [3, 4, 9, 5],
        [1, 1, 0, 1],
        [0, 1],
      ],
    ],
  );
  assert.deepEqual(
    out.samples.filter((s) => s.rolloutId === broken.rolloutId).map((s) => s.calls),
    [[0], [1]],
  );
  assert.equal(out.fallbacks.length, 1);
  assert.match(out.fallbacks[0].reason, /call 1's prompt differs .* at token 2 \(3 -> 7\)/);
  await store.close();
});

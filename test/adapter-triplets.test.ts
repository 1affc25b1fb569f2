import { test } from "node:test";
import assert from "node:assert/strict";
import { spansToTriplets } from "../src/adapter/triplets.js";
import { finalReward, rewardDimensions } from "../src/adapter/rewards.js";
import { ValidationError } from "../src/types/errors.js";
import type { Span } from "../src/types/span.js";

let seq = 0;
function span(name: string, attributes: Span["attributes"]): Span {
  seq++;
  return {
    rolloutId: "ro-1",
    attemptId: "at-1",
    sequenceId: seq,
    traceId: `${"0".repeat(31)}1`,
    spanId: seq.toString(16).padStart(16, "0"),
    parentId: null,
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
const llm = (agent: string, prompt: number[], completion: number[]) =>
  span("chat m", {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "m",
    "agentlightning.agent.name": agent,
    "gen_ai.prompt.token_ids": prompt,
    "gen_ai.completion.token_ids": completion,
    "gen_ai.completion.logprobs": completion.map(() => -0.5),
    "gen_ai.output.messages": JSON.stringify([{ role: "assistant", content: "hi" }]),
  });
const reward = (v: number) =>
  span("agentlightning.reward", { "agentlightning.reward.0.name": "primary", "agentlightning.reward.0.value": v });

test("a reward is credited to the LLM call it follows, and calls after the last reward get none", () => {
  seq = 0;
  const spans = [llm("solver", [1], [2]), reward(0.25), llm("solver", [3], [4]), llm("checker", [5], [6]), reward(1)];
  const t = spansToTriplets(spans.reverse());
  assert.deepEqual(
    t.map((x) => [x.prompt.tokenIds, x.reward]),
    [
      [[1], 0.25],
      [[3], null],
      [[5], 1],
    ],
  );
  assert.deepEqual(t[0].response, { tokenIds: [2], logprobs: [-0.5], text: "hi" });
});

test("the agent filter keeps only the named agents' calls but rewards still follow the call order", () => {
  seq = 0;
  const spans = [llm("solver", [1], [2]), llm("checker", [3], [4]), reward(1)];
  assert.deepEqual(
    spansToTriplets(spans, { agentMatch: "solver" }).map((t) => t.reward),
    [null],
  );
  assert.deepEqual(
    spansToTriplets(spans, { agentMatch: /check/ }).map((t) => t.reward),
    [1],
  );
  assert.deepEqual(
    spansToTriplets(spans, { agentMatch: "solver", rewardAssignment: "final" }).map((t) => t.reward),
    [1],
  );
});

test("multi-dimensional rewards keep the primary dimension first and finalReward reads it", () => {
  seq = 0;
  const early = reward(0.1);
  const r = span("agentlightning.reward", {
    "agentlightning.reward.0.name": "correct",
    "agentlightning.reward.0.value": 1,
    "agentlightning.reward.1.name": "format",
    "agentlightning.reward.1.value": 0.5,
  });
  assert.deepEqual(rewardDimensions(r), [
    { name: "correct", value: 1 },
    { name: "format", value: 0.5 },
  ]);
  assert.equal(finalReward([r, early]), 1);
  assert.equal(finalReward([llm("a", [1], [1])]), null);
});

test("bad adapter options are rejected with a clear error", () => {
  assert.throws(() => spansToTriplets([], { rewardAssignment: "sometimes" } as never), ValidationError);
  assert.throws(() => spansToTriplets([], { bogus: 1 } as never), /bogus/);
});

// The demo's pieces that need no training: the task tokenizer, the reward,
// and the HTML report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ArithmeticTokenizer, additionTasks, curveRows, renderReport, scoreAnswer } from "../src/examples/index.js";
import { runInfo } from "../src/display/run-info.js";
import { ValidationError } from "../src/types/errors.js";

test("the task tokenizer spells a+b= as one token per symbol and round-trips answers with the end token", () => {
  const tok = new ArithmeticTokenizer();
  assert.equal(tok.vocabSize, 13);
  assert.deepEqual(tok.encode("3+4="), [3, 10, 4, 11]);
  assert.equal(
    tok.applyChatTemplate(
      [
        { role: "system", content: "x" },
        { role: "user", content: "2+2=" },
      ],
      { addGenerationPrompt: true },
    ),
    "2+2=",
  );
  assert.deepEqual(tok.encode("7<|endoftext|>", { allowSpecial: true }), [7, tok.eosId]);
  assert.equal(tok.decode([7, tok.eosId]), "7<|endoftext|>");
  assert.equal(tok.decode([7, tok.eosId], { skipSpecial: true }), "7");
  assert.throws(() => tok.encode("3*4="), ValidationError);
  assert.throws(() => tok.decode([13]), ValidationError);
});

test("the reward is 1 only when the answer's leading number is the sum", () => {
  assert.equal(additionTasks(4).length, 25);
  assert.equal(scoreAnswer({ a: 3, b: 4 }, "7"), 1);
  assert.equal(scoreAnswer({ a: 3, b: 4 }, " 7+"), 1);
  assert.equal(scoreAnswer({ a: 3, b: 4 }, "71"), 0);
  assert.equal(scoreAnswer({ a: 3, b: 4 }, ""), 0);
  assert.throws(() => additionTasks(10), RangeError);
});

test("the HTML report holds the before/after line, the reward curve as inline SVG, and the run info", () => {
  const history = [1, 2, 3].map((step) => ({
    step,
    rewardMean: step / 4,
    rewardStd: 0,
    samples: 8,
    loss: 0,
    kl: 0,
    clipFrac: 0,
    entropy: 1,
    gradNorm: 0.1,
    trainTokensPerSecond: 100,
    generateSeconds: 0.5,
    collectSeconds: 0.01,
    trainSeconds: 0.1,
    stepSeconds: 0.7,
    ...(step === 2 ? { valReward: 0.5 } : {}),
  }));
  const rows = curveRows(history, 0.1, 0.75);
  assert.deepEqual(
    rows.filter((r) => r.series === "val (greedy)").map((r) => [r.step, r.reward]),
    [
      [0, 0.1],
      [2, 0.5],
      [3, 0.75],
    ],
  );
  const html = renderReport({ before: 0.1, after: 0.75, history, seconds: 2.1, config: { steps: 3 }, runInfo: runInfo() });
  assert.match(html, /validation reward: before 0\.100 -&gt; after 0\.750/);
  assert.match(html, /<svg[\s\S]*<\/svg>/);
  assert.match(html, /Reward by GRPO step/);
  assert.doesNotMatch(html, /<script/);
});

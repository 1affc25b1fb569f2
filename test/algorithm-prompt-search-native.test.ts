// promptSearch where the prompt really changes what the model does: a tiny native policy,
// fine-tuned for a moment on one prompt format ("a+b="), is served through the LLM proxy to a
// plain openai agent, and the search must find that format among variants within its budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import { servePolicy } from "../src/algorithm/policy-loop.js";

const { ARITHMETIC_POLICY, ArithmeticTokenizer, additionTasks, scoreAnswer } = agl.examples;
type Task = agl.examples.AdditionTask;

test("promptSearch finds the prompt format a native policy was trained on, within budget (seeded)", { timeout: 60_000 }, async () => {
  const tokenizer = new ArithmeticTokenizer();
  const tasks = additionTasks(4);
  const policy = await agl.native.Policy.create({ ...ARITHMETIC_POLICY, seed: 1 });
  // 120 SFT steps on "a+b=" take the policy from chance to exact on that format (about a second).
  const prompts = tasks.map((t) => tokenizer.encode(`${t.a}+${t.b}=`));
  const responses = tasks.map((t) => [...tokenizer.encode(String(t.a + t.b)), tokenizer.eosId]);
  for (let s = 0; s < 120; s++) await policy.trainStep({ prompts, responses }, { loss: "sft", lr: 3e-3 });

  const store = await agl.openStore();
  const served = await servePolicy(store, policy, tokenizer, "adder", { temperature: 0, maxTokens: 1, evalTemperature: 0, seed: 1 });
  try {
    const agent = agl.rollout(async (task: Task, ctx) => {
      const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none" });
      const content = agl.formatPrompt(ctx.resources.prompt_template as agl.PromptTemplate, task);
      const r = await client.chat.completions.create({
        model: ctx.llm!.model,
        messages: [{ role: "user", content }],
        ...(ctx.llm!.samplingParameters as object),
      });
      return scoreAnswer(task, r.choices[0]?.message.content ?? "");
    });
    // The incumbent is a near miss (no "="): the trained format has to beat it decisively to win.
    const candidates = ["{a}+{b}", "{a}{b}=", "{a}+{b}=", "={a}+{b}", "{a}={b}+"];
    const budget = 150;
    const trainer = new agl.Trainer({
      store,
      nRunners: 4,
      log: () => {},
      algorithm: agl.algorithms.promptSearch({ candidates, budget, seed: 7 }),
    });
    const r = await trainer.fit<agl.algorithms.PromptSearchResult>(agent, { train: [], val: tasks });
    assert.equal(r.winner, 2, `scores: ${r.candidates.map((c) => `${c.template} ${c.mean.toFixed(2)} n=${c.n}`).join("; ")}`);
    assert.equal(r.separated, true);
    assert.ok(r.spent <= budget);
    assert.ok(r.candidates[2].lo > r.candidates[0].hi, "the trained format's interval clears the incumbent's");
  } finally {
    await served.close();
    await store.close();
  }
});

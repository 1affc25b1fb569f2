// APO's mechanics, driven by a scripted optimizer: a loopback OpenAI-compatible server
// (test/helpers/scripted-optimizer.ts) that stands in for a hosted LLM, which this machine
// cannot reach. It answers critique and edit requests deterministically and also plays the
// agent's model: a simulated student whose accuracy depends on the rules its prompt holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import * as agl from "../src/index.js";
import fc from "fast-check";
import { startScriptedOptimizer, type ScriptedOptimizer } from "./helpers/scripted-optimizer.js";
import { parseEdit, rejectEdit, placeholders } from "../src/algorithm/apo-optimizer.js";

type Task = { a: number; b: number };
const tasks: Task[] = Array.from({ length: 80 }, (_, i) => ({ a: 10 + ((i * 37) % 50), b: 10 + ((i * 53) % 47) }));

const agent = agl.rollout(
  async (task: Task, ctx) => {
    const prompt = agl.formatPrompt(ctx.resources.prompt_template as agl.PromptTemplate, task);
    const client = new OpenAI({ baseURL: ctx.llm!.endpoint, apiKey: "none" });
    const r = await client.chat.completions.create({ model: ctx.llm!.model, messages: [{ role: "user", content: prompt }] });
    return r.choices[0]?.message.content?.trim() === String(task.a + task.b) ? 1 : 0;
  },
  { name: "student" },
);

async function setup(): Promise<{ store: agl.LightningStore; scripted: ScriptedOptimizer }> {
  const scripted = await startScriptedOptimizer();
  const store = await agl.openStore();
  await store.addResources({ llm: { resourceType: "llm", endpoint: scripted.baseURL, model: "student", samplingParameters: {} } });
  return { store, scripted };
}

const options = (scripted: ScriptedOptimizer, extra: Partial<agl.algorithms.ApoOptions> = {}): agl.algorithms.ApoOptions => ({
  optimizer: { baseURL: scripted.baseURL, apiKey: scripted.apiKey, model: scripted.model },
  prompt: "What is {a}+{b}?",
  beamWidth: 2,
  branchFactor: 2,
  rounds: 2,
  gradientBatchSize: 4,
  valBatchSize: 40,
  seed: 1,
  ...extra,
});

async function fit(store: agl.LightningStore, o: agl.algorithms.ApoOptions, signal?: AbortSignal): Promise<agl.algorithms.ApoResult> {
  const trainer = new agl.Trainer({ store, nRunners: 4, log: () => {}, algorithm: agl.algorithms.apo(o) });
  return trainer.fit<agl.algorithms.ApoResult>(agent, { train: tasks.slice(0, 40), val: tasks.slice(40) }, { signal });
}

test("APO improves the prompt when the scores say so: critiques, edits, beam and resource versions", { timeout: 60_000 }, async () => {
  const { store, scripted } = await setup();
  try {
    const r = await fit(store, options(scripted));
    // round 1: "Reply with the number only." is the only edit that can score; round 2 adds the carrying rule.
    assert.equal(r.first.template, "What is {a}+{b}?");
    assert.equal(r.first.mean, 0);
    assert.match(r.best.template, /Reply with the number only\./);
    assert.match(r.best.template, /Add the ones digits first/);
    assert.ok(r.best.lo > 0.5, `best prompt's interval ${r.best.lo}..${r.best.hi}`);
    assert.deepEqual(
      r.rounds.map((x) => x.round),
      [0, 1, 2],
    );
    assert.ok(
      r.rounds.slice(1).every((x) => x.separated),
      "each round's leader beat its incumbent decisively",
    );
    for (const row of r.rounds) assert.ok(row.beam.length >= 1 && row.beam.length <= 2 && row.beam[0] === row.best);
    // one version of the best-prompt resources per finished round
    const best = await store.getResourcesById(r.bestResourcesId);
    assert.equal(best!.version, 3);
    assert.equal((best!.resources.prompt_template as agl.PromptTemplate).template, r.best.template);
    assert.equal(best!.resources.llm.resourceType, "llm", "the agent's other resources travel with every candidate");
    // the optimizer saw one critique per beam prompt and branchFactor edits per critique
    const h = (await agl.algorithms.apo.history(store, r.runId))!;
    assert.equal(h.critiques.length, 1 + 2);
    assert.equal(h.edits.length, h.critiques.length * 2);
    assert.equal(scripted.requests.filter((q) => q.kind === "critique").length, 3);
    assert.ok(
      h.edits.some((e) => e.rejected?.startsWith("same prompt as")),
      "an edit that repeats a beam prompt is rejected, not raced twice",
    );
    // the optimizer's own calls are LLM spans of the algorithm's rollout
    const llm = (await store.querySpans({ rolloutId: r.logRolloutId })).filter(
      (s) => typeof s.attributes["gen_ai.input.messages"] === "string",
    );
    assert.equal(llm.length, h.critiques.length + h.edits.length);
    // budget accounting: every rollout the run spent is in the store, tagged with its round and phase
    const runs = (await store.queryRollouts()).filter((x) => x.metadata.runId === r.runId && x.metadata.kind !== "algorithm");
    assert.equal(runs.length, r.spent);
    assert.equal(r.rounds.at(-1)!.spent, r.spent);
    const grad = runs.filter((x) => x.metadata.phase === "gradient").length;
    assert.equal(
      grad,
      r.rounds.reduce((s, x) => s + x.gradientRollouts, 0),
    );
    assert.ok(
      r.rounds.slice(1).every((x) => x.valRollouts <= 40 * (x.beam.length + 4)),
      "a round's race stays within valBatchSize per candidate",
    );
    // charts: score by round with intervals, and the first -> best prompt diff
    const chart = agl.charts.apoScores(h);
    assert.match(chart.toSVG(), /<svg/);
    assert.match(chart.summary(), /round 2 best r2c\d/);
    const diff = agl.charts.promptDiff(h);
    assert.equal(diff.removed, 0);
    assert.match(diff.toString(), /\{\+ Reply with the number only\./);
    assert.match(
      String((diff as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]()["text/html"]),
      /<ins[^>]*> Reply with the number only\./,
    );
  } finally {
    await store.close();
    await scripted.close();
  }
});

test("a stopped APO run resumes from the store and ends where an uninterrupted run ends", { timeout: 60_000 }, async () => {
  const { store, scripted } = await setup();
  try {
    const stop = new AbortController();
    const first = options(scripted, {
      runId: "resumable",
      rounds: 2,
      valBatchSize: 16,
      onRound: (row) => void (row.round === 1 && stop.abort(new Error("stopped after round 1"))),
    });
    await assert.rejects(fit(store, first, stop.signal), /stopped after round 1/);
    const partial = (await agl.algorithms.apo.history(store, "resumable"))!;
    assert.deepEqual(
      partial.rounds.map((x) => x.round),
      [0, 1],
    );
    const resumed = await fit(store, options(scripted, { runId: "resumable", resume: true, rounds: 2, valBatchSize: 16 }));
    assert.equal(resumed.resumedAfterRound, 1);
    assert.deepEqual(
      resumed.rounds.map((x) => x.round),
      [0, 1, 2],
    );
    const whole = await fit(store, options(scripted, { runId: "whole", rounds: 2, valBatchSize: 16 }));
    assert.equal(resumed.best.template, whole.best.template);
    assert.equal(resumed.best.mean, whole.best.mean);
    assert.equal(resumed.spent, whole.spent, "resume spends no rollouts twice for finished rounds");
    const h = (await agl.algorithms.apo.history(store, "resumable"))!;
    assert.equal(h.logRolloutIds.length, 2);
    assert.equal((await store.getResourcesById(resumed.bestResourcesId))!.version, 3);
    await assert.rejects(fit(store, options(scripted, { runId: "nope", resume: true })), /no APO run named "nope"/);
  } finally {
    await store.close();
    await scripted.close();
  }
});

test("noise alone does not move the beam's head: equal prompts keep the incumbent", { timeout: 60_000 }, async () => {
  // Every rule is worth nothing: children differ only by noise in the student's answers.
  const scripted = await startScriptedOptimizer({
    baseAccuracy: 0.5,
    rules: [
      { text: "Reply with the number only.", gain: 0, formatsAnswer: true },
      { text: "Think.", gain: 0 },
      { text: "Relax.", gain: 0 },
    ],
  });
  const store = await agl.openStore();
  await store.addResources({ llm: { resourceType: "llm", endpoint: scripted.baseURL, model: "student", samplingParameters: {} } });
  try {
    const r = await fit(store, options(scripted, { prompt: "What is {a}+{b}? Reply with the number only.", rounds: 2 }));
    assert.ok(r.rounds.every((x) => !x.separated));
    assert.equal(r.best.id, "r0c0");
    assert.equal(r.best.template, "What is {a}+{b}? Reply with the number only.");
  } finally {
    await store.close();
    await scripted.close();
  }
});

test("APO rejects bad options and an unreachable optimizer with clear errors", { timeout: 30_000 }, async () => {
  assert.throws(() => agl.algorithms.apo({ optimizer: { baseURL: "not a url", model: "m" }, prompt: "x" }), /optimizer.baseURL/);
  assert.throws(
    () => agl.algorithms.apo({ optimizer: { baseURL: "http://127.0.0.1:1/v1", model: "m" }, prompt: "x", beamWidth: 0 }),
    /beamWidth/,
  );
  assert.throws(() => agl.algorithms.apo({ optimizer: { baseURL: "http://127.0.0.1:1/v1", model: "m" }, prompt: "" }), /must not be empty/);
  const { store, scripted } = await setup();
  try {
    const o = options(scripted, {
      optimizer: { baseURL: "http://127.0.0.1:9/v1", model: "m", timeoutMs: 1000 },
      rounds: 1,
      valBatchSize: 4,
    });
    await assert.rejects(fit(store, o), /every optimizer call of round 1 failed/);
  } finally {
    await store.close();
    await scripted.close();
  }
});

test("property: an edit is parsed from its tags and refused when it drops or invents placeholders", () => {
  const parent: agl.PromptTemplate = { resourceType: "prompt_template", template: "What is {a}+{b}?", engine: "f-string" };
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (body) => {
      fc.pre(!body.includes("</prompt>") && !/<prompt>/i.test(body));
      assert.equal(parseEdit(`Sure.\n<prompt>${body}</prompt>\nDone.`), body.trim());
      const verdict = rejectEdit(parent, body.trim(), 8000);
      const slots = placeholders({ ...parent, template: body.trim() });
      if (verdict === null) assert.deepEqual(slots, ["a", "b"]);
      else assert.ok(!body.trim() || slots.join() !== "a,b", verdict);
    }),
  );
  assert.equal(rejectEdit(parent, "What is {a}?", 8000), "placeholders dropped: b");
  assert.match(rejectEdit(parent, "{a}+{b}={c}", 8000)!, /unknown placeholders added: c/);
  assert.match(rejectEdit(parent, `{a}{b}${"x".repeat(100)}`, 50)!, /limit 50/);
});

test("the scripted optimizer answers client mistakes with 4xx, not a crash", { timeout: 10_000 }, async () => {
  const scripted = await startScriptedOptimizer();
  try {
    const post = (path: string, body: string) =>
      fetch(scripted.baseURL + path, { method: "POST", body, headers: { "content-type": "application/json" } });
    assert.equal((await post("/chat/completions", "{not json")).status, 400);
    assert.equal((await post("/chat/completions", JSON.stringify({ messages: "hi" }))).status, 400);
    assert.equal((await post("/embeddings", "{}")).status, 404);
    assert.equal((await post("/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "2+3" }] }))).status, 200);
  } finally {
    await scripted.close();
  }
});

test("a round whose edits are all refused keeps the beam and spends no validation rollouts", { timeout: 30_000 }, async () => {
  // The prompt already holds every rule the scripted optimizer knows, so each edit repeats it.
  const scripted = await startScriptedOptimizer({ rules: [{ text: "Reply with the number only.", gain: 0.2, formatsAnswer: true }] });
  const store = await agl.openStore();
  await store.addResources({ llm: { resourceType: "llm", endpoint: scripted.baseURL, model: "student", samplingParameters: {} } });
  try {
    const r = await fit(
      store,
      options(scripted, { prompt: "What is {a}+{b}? Reply with the number only.", rounds: 1, valBatchSize: 8, gradientBatchSize: 2 }),
    );
    const [r0, r1] = r.rounds;
    assert.deepEqual([r1.best, r1.beam, r1.valRollouts, r1.separated], [r0.best, r0.beam, 0, false]);
    assert.equal(r1.bestMean, r0.bestMean);
    const h = (await agl.algorithms.apo.history(store, r.runId))!;
    assert.ok(h.edits.length === 2 && h.edits.every((e) => e.rejected === "same prompt as r0c0"));
    assert.equal(r.spent, 8 + 2);
  } finally {
    await store.close();
    await scripted.close();
  }
});

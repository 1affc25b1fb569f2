// The training loop's cost for the demo configuration: rollouts/s, trained
// tokens/s and the split of wall time (generation, training, the rest),
// against a baseline in the same run: the same sampling and train steps by
// direct policy.generate/trainStep calls, without agents, proxy or store.
// Run: npx tsx bench/loop/run.ts [steps]
import { openStore } from "../../src/store/index.js";
import { Policy } from "../../src/native/index.js";
import { ARITHMETIC_POLICY, ArithmeticTokenizer, additionTasks, trainArithmetic } from "../../src/examples/index.js";

const steps = Number(process.argv[2] ?? 30);
const cfg = { groupSize: 8, batchSize: 16, lr: 5e-3, seed: 1 };

async function loop() {
  const store = await openStore();
  const t0 = performance.now();
  const r = await trainArithmetic({ store, steps, nRunners: 4, progress: false, ...cfg });
  const wall = (performance.now() - t0) / 1000;
  await store.close();
  const sum = (k: "generateSeconds" | "collectSeconds" | "trainSeconds" | "stepSeconds") => r.history.reduce((s, m) => s + m[k], 0);
  const rollouts = r.history.reduce((n, m) => n + m.samples, 0);
  // one prompt of 4 tokens and one answer token per rollout
  const tokens = rollouts * 5;
  return {
    wall,
    steps: sum("stepSeconds"),
    gen: sum("generateSeconds"),
    collect: sum("collectSeconds"),
    train: sum("trainSeconds"),
    rollouts,
    tokens,
    before: r.before,
    after: r.after,
  };
}

async function direct() {
  const tok = new ArithmeticTokenizer();
  const tasks = additionTasks(4).map((t) => tok.encode(`${t.a}+${t.b}=`));
  const policy = await Policy.create({ ...ARITHMETIC_POLICY, seed: cfg.seed });
  let gen = 0,
    train = 0,
    rollouts = 0;
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    // the same batches as GRPO's: 16 then 9 tasks per pass over the 25
    const start = (step % 2) * cfg.batchSize;
    const prompts = tasks.slice(start, start + cfg.batchSize);
    const a = performance.now();
    const g = await policy.generate(prompts, { n: cfg.groupSize, temperature: 1, maxTokens: 1, stop: [tok.eosId], seed: step + 1 });
    const b = performance.now();
    const rewards = g.tokens.map(() => Math.random());
    await policy.trainStep(
      { prompts: g.promptIndex.map((p) => prompts[p]), responses: g.tokens, rewards, groupSize: cfg.groupSize, oldLogprobs: g.logprobs },
      { loss: "grpo", lr: cfg.lr, beta2: 0.99 },
    );
    gen += (b - a) / 1000;
    train += (performance.now() - b) / 1000;
    rollouts += g.tokens.length;
  }
  return { wall: (performance.now() - t0) / 1000, gen, train, rollouts, tokens: rollouts * 5 };
}

const base = await direct();
const l = await loop();
// the rollout phase's own cost per call, to tell the proxy and store apart from sampling
const perRollout = (1000 * l.gen) / l.rollouts;
const f = (x: number) => x.toFixed(2);
console.log(`loop bench: ${steps} GRPO steps, demo config (batch 16 tasks x group 8, 4 runners, 1-token answers)`);
console.log(
  `direct (baseline): ${f(base.wall)} s, ${(base.rollouts / base.wall).toFixed(0)} rollouts/s, ${(base.tokens / base.train).toFixed(0)} trained tokens/s in trainStep; generate ${f(base.gen)} s, train ${f(base.train)} s`,
);
console.log(
  `through the loop:  ${f(l.wall)} s (incl. val before/after), ${(l.rollouts / l.steps).toFixed(0)} rollouts/s, ${(l.tokens / l.train).toFixed(0)} trained tokens/s in trainStep; per-step total ${f(l.steps)} s = rollouts ${f(l.gen)} s (${((100 * l.gen) / l.steps).toFixed(0)}%) + reading spans back ${f(l.collect)} s (${((100 * l.collect) / l.steps).toFixed(0)}%) + training ${f(l.train)} s (${((100 * l.train) / l.steps).toFixed(0)}%) + metrics/other ${f(l.steps - l.gen - l.collect - l.train)} s`,
);
console.log(
  `ratio: loop step time / direct step time = ${(l.steps / base.wall).toFixed(1)}x; rollout phase / direct generate = ${(l.gen / base.gen).toFixed(1)}x`,
);
console.log(
  `per rollout: ${perRollout.toFixed(2)} ms in the loop vs ${((1000 * base.gen) / base.rollouts).toFixed(3)} ms of batched sampling`,
);
console.log(`val reward ${l.before} -> ${l.after}`);

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../src/store/index.js";
import { frames, rescore, writeSyntheticRun, type RescoreContext } from "../src/frame/index.js";
import { charts } from "../src/viz/index.js";
import { adaptRollouts } from "../src/adapter/triplets.js";
import { ValidationError } from "../src/types/errors.js";

type Row = Record<string, unknown>;

/** A stricter reward: correct only when the last answer is the bare number. */
const exactAnswer = ({ rollout, llmCalls }: RescoreContext) => {
  const answer = (rollout.input as { answer: number }).answer;
  return llmCalls.at(-1)?.response === String(answer) ? 1 : 0;
};

test("rescore round trip: new rewards beside old ones, written back as a new dimension, originals untouched", async () => {
  const store = await openStore();
  const { rolloutIds } = await writeSyntheticRun(store, { rollouts: 16, seed: 11 });
  const before = (await frames.rewards(store)).objects() as Row[];
  const tripletsBefore = await adaptRollouts(store, rolloutIds);

  const seen: RescoreContext[] = [];
  const result = await rescore(store, (ctx) => (seen.push(ctx), exactAnswer(ctx)), { name: "exact", writeBack: true });
  const rows = result.objects() as Row[];
  assert.equal(rows.length, 16);
  // The function saw each rollout's spans, LLM calls and the de-duplicated conversation.
  assert.ok(seen.every((c) => c.llmCalls.length === 2 && c.spans.length === 4));
  assert.deepEqual(
    seen[0].messages.map((m) => m.role),
    ["system", "user", "assistant", "user", "assistant"],
  );
  for (const r of rows) {
    const old = before.find((b) => b.rollout_id === r.rollout_id && b.dimension === "correct")!.value;
    assert.equal(r.old_reward, old);
    assert.equal(r.diff, (r.new_reward as number) - (old as number));
  }

  const after = (await frames.rewards(store)).objects() as Row[];
  const written = after.filter((r) => r.dimension === "exact");
  assert.equal(written.length, 16);
  assert.ok(written.every((r) => r.rescored === true && r.primary === false));
  for (const w of written) assert.equal(w.value, rows.find((r) => r.rollout_id === w.rollout_id)!.new_reward);
  const strip = (rs: Row[]) => rs.filter((r) => !r.rescored).map(({ rescored: _r, ...rest }) => JSON.stringify(rest));
  assert.deepEqual(strip(after), strip(before), "original reward rows unchanged");
  assert.deepEqual(await adaptRollouts(store, rolloutIds), tripletsBefore, "training data still uses the original reward");
  const summary = (await frames.rolloutSummary(store)).objects() as Row[];
  for (const s of summary) assert.equal(s.final_reward, rows.find((r) => r.rollout_id === s.rollout_id)!.old_reward);

  // Rescoring again sees only original spans, so the old reward column is stable.
  const again = (await rescore(store, exactAnswer)).objects() as Row[];
  assert.deepEqual(
    again.map((r) => r.old_reward),
    rows.map((r) => r.old_reward),
  );
  await assert.rejects(rescore(store, exactAnswer, { name: "exact", writeBack: true }), /already written back/);
  await assert.rejects(rescore(store, exactAnswer, { name: "correct", writeBack: true }), /original reward dimension/);

  const agreement = charts.rewardAgreement(result);
  const disagreeing = rows
    .filter((r) => r.new_reward !== r.old_reward)
    .map((r) => r.rollout_id)
    .sort();
  assert.ok(disagreeing.length > 0, "the stricter reward disagrees somewhere on this seed");
  assert.equal(agreement.disagreements.length, Math.min(10, disagreeing.length));
  assert.ok(agreement.disagreements.every((d) => disagreeing.includes(d.id)));
});

test("rescore records reward-function errors per rollout and rejects bad returns and write-back to a path", async () => {
  const dir = mkdtempSync(join(tmpdir(), "arclight-rescore-"));
  try {
    const store = await openStore(dir, { fsync: "none" });
    await writeSyntheticRun(store, { rollouts: 4, seed: 12 });
    let i = 0;
    const t = (
      await rescore(store, () => {
        i++;
        if (i === 1) throw new Error("boom");
        if (i === 2) return Number.NaN;
        return i === 3 ? true : 0.25;
      })
    ).objects() as Row[];
    assert.match(t[0].error as string, /Error: boom/);
    assert.equal(t[0].new_reward, null);
    assert.match(t[1].error as string, /finite number/);
    assert.equal(t[2].new_reward, 1, "booleans count as 1 / 0");
    assert.equal(t[3].new_reward, 0.25);
    await store.close();
    // The same rescore straight from the directory, without opening a store.
    const fromDir = (await rescore(dir, exactAnswer)).objects() as Row[];
    assert.equal(fromDir.length, 4);
    await assert.rejects(rescore(dir, exactAnswer, { writeBack: true }), ValidationError);
    await assert.rejects(rescore(dir, "nope" as never), ValidationError);
    await assert.rejects(rescore(dir, exactAnswer, { name: "has space" }), ValidationError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../src/store/index.js";
import { makeSpan, storeContract } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

storeContract("durable", (opts) => openStore(join(root, `s${++n}`), opts));

test("durable: after a restart, an attempt whose reward span went to Parquet still answers its reward", async () => {
  const dir = join(root, "reward-restart");
  const s = await openStore(dir);
  const r = await s.startRollout({ input: 1 });
  const aid = r.attempt.attemptId;
  await s.addSpan(makeSpan(r.rolloutId, aid, { name: "agentlightning.reward", attributes: { "agentlightning.reward.0.value": 0.25 } }));
  await s.flush!();
  await s.addSpan(makeSpan(r.rolloutId, aid));
  await s.close();
  const again = await openStore(dir);
  try {
    assert.equal(await again.attemptReward!(r.rolloutId, aid), 0.25);
    await again.addSpan(makeSpan(r.rolloutId, aid, { name: "agentlightning.reward", attributes: { "agentlightning.reward.0.value": 1 } }));
    assert.equal(await again.attemptReward!(r.rolloutId, aid), 1);
  } finally {
    await again.close();
  }
});

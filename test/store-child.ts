// Child process for the store durability tests (not a test file itself).
//   write <dir>: writes spans and state forever, printing each acknowledgement
//   read <dir>:  opens the directory read-only and prints what it sees
import { openStore } from "../src/store/index.js";

const [mode, dir] = process.argv.slice(2);

if (mode === "write") {
  const s = await openStore(dir, { parquetRollSpans: 300, checkpointIntervalMs: 0 });
  const r = await s.startRollout({ input: "crash", rolloutId: "ro-crash" });
  const aid = r.attempt.attemptId;
  console.log(`attempt ${aid}`);
  for (let i = 0; ; i++) {
    const batch = Array.from({ length: 7 }, (_, j) => ({
      rolloutId: "ro-crash",
      attemptId: aid,
      traceId: "cd".repeat(16),
      spanId: (i * 7 + j + 1).toString(16).padStart(16, "0"),
      parentId: null,
      name: `step-${i}`,
      status: { statusCode: "OK" as const },
      attributes: { i, j },
      events: [],
      links: [],
      startTime: 1000 + i,
      endTime: 1001 + i,
      resource: { attributes: {}, schemaUrl: "" },
    }));
    const spans = await s.addSpans(batch);
    console.log(`spans ${spans[0].sequenceId} ${spans[spans.length - 1].sequenceId}`);
    if (i % 5 === 0) {
      const q = await s.enqueueRollout({ input: i, rolloutId: `ro-q${i}` });
      console.log(`rollout ${q.rolloutId}`);
      const res = await s.updateResources("rs-crash", { p: { resourceType: "prompt_template", template: `v${i}` } });
      console.log(`resources ${res.version}`);
    }
  }
} else if (mode === "read") {
  const s = await openStore(dir, { readOnly: true });
  const stats = await s.statistics();
  const spans = await s.querySpans();
  console.log(JSON.stringify({ rollouts: stats.rollouts, spans: spans.length, names: [...new Set(spans.map((x) => x.name))].sort() }));
  await s.close();
}

// Stored text reads back exactly, byte for byte, from memory, the WAL, Parquet
// and a reopen; text a store cannot keep exactly (lone UTF-16 surrogates) is
// refused before it is acknowledged, and such spans logged by an earlier
// version are set aside without making the directory unusable.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { DuckDBInstance } from "@duckdb/node-api";
import { type DurableStore, MemoryStore, openStore, type LightningStore } from "../src/store/index.js";
import { readWalSpans } from "../src/store/wal-spans.js";
import { encodeRecord } from "../src/store/wal.js";
import { ValidationError, type Span } from "../src/types/index.js";
import { makeSpan } from "./store-suite.js";

const root = mkdtempSync(join(tmpdir(), "arclight-text-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);

/** A copy of a live store's directory, as a crash would leave it. */
function crashCopy(dir: string): string {
  const to = freshDir();
  cpSync(dir, to, { recursive: true });
  rmSync(join(to, "writer.lock"), { force: true });
  return to;
}

type Draft = ReturnType<typeof makeSpan>;
const HIGH = "🚀".slice(0, 1);
const LOW = "🚀".slice(1);

/** Every string field of a span, each set to `s` in turn. */
const STRING_FIELDS: [string, (s: string) => Partial<Span>][] = [
  ["name", (s) => ({ name: s })],
  ["status.description", (s) => ({ status: { statusCode: "ERROR", description: s } })],
  ["attributes key", (s) => ({ attributes: { [s]: 1 } })],
  ["attributes value", (s) => ({ attributes: { k: s } })],
  ["attributes array element", (s) => ({ attributes: { k: ["ok", s] } })],
  ["events name", (s) => ({ events: [{ name: s, timestamp: 1, attributes: {} }] })],
  ["events attribute", (s) => ({ events: [{ name: "e", timestamp: 1, attributes: { k: s } }] })],
  ["links traceId", (s) => ({ links: [{ traceId: s, spanId: "x", attributes: {} }] })],
  ["links attribute", (s) => ({ links: [{ traceId: "t", spanId: "x", attributes: { [s]: s } }] })],
  ["resource attribute", (s) => ({ resource: { attributes: { "service.name": s }, schemaUrl: "" } })],
  ["resource schemaUrl", (s) => ({ resource: { attributes: {}, schemaUrl: s } })],
];

for (const kind of ["memory", "durable"] as const) {
  test(`${kind}: a lone surrogate in any span string is refused with a ValidationError naming the field; nothing is acknowledged and the store stays usable`, async () => {
    const dir = freshDir();
    const s: LightningStore = kind === "memory" ? new MemoryStore() : await openStore(dir, { checkpointIntervalMs: 0 });
    const r = await s.startRollout({ input: 1, rolloutId: "ro-s" });
    const aid = r.attempt.attemptId;
    await s.addSpan(makeSpan("ro-s", aid, { name: "good-before" }));
    for (const [field, set] of STRING_FIELDS) {
      for (const bad of [HIGH, `ab${LOW}cd`, `x${HIGH}`]) {
        const err = await s.addSpans([makeSpan("ro-s", aid, { name: "fine" }), makeSpan("ro-s", aid, set(bad))]).then(
          () => assert.fail(`${field} ${JSON.stringify(bad)} accepted`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ValidationError, `${field}: ${String(err)}`);
        assert.match(err.message, /addSpans\[1\]: .*lone UTF-16 surrogate/, field);
      }
      await assert.rejects(s.addSpan(makeSpan("ro-s", aid, set(HIGH))), ValidationError, field);
    }
    // Well-formed pairs are text like any other.
    await s.addSpan(makeSpan("ro-s", aid, { name: "🚀", attributes: { "🚀": "𝄞" } }));
    assert.deepEqual(
      (await s.querySpans()).map((x) => [x.sequenceId, x.name]),
      [
        [0, "good-before"],
        [1, "🚀"],
      ],
    );
    if (kind === "durable") {
      await s.flush!();
      await s.close();
      const again = await openStore(dir);
      assert.deepEqual(
        (await again.querySpans()).map((x) => [x.sequenceId, x.name, x.attributes]),
        [
          [0, "good-before", { k: 1 }],
          [1, "🚀", { "🚀": "𝄞" }],
        ],
      );
      await again.close();
    } else await s.close();
  });
}

for (const kind of ["memory", "durable"] as const) {
  test(`${kind}: caller-chosen rollout and resources ids with a lone surrogate are refused, so no rollout exists whose spans the store must refuse`, async () => {
    const s: LightningStore = kind === "memory" ? new MemoryStore() : await openStore(freshDir(), { checkpointIntervalMs: 0 });
    for (const bad of [HIGH, `ro-${LOW}`]) {
      await assert.rejects(
        s.enqueueRollout({ input: 1, rolloutId: bad }),
        (e: unknown) => e instanceof ValidationError && /lone UTF-16 surrogate/.test(e.message),
      );
      await assert.rejects(s.startRollout({ input: 1, rolloutId: bad }), ValidationError);
      await assert.rejects(s.addResources({}, bad), ValidationError);
      await assert.rejects(s.updateResources(bad, {}), ValidationError);
    }
    assert.equal((await s.queryRollouts()).length, 0);
    await s.enqueueRollout({ input: 1, rolloutId: "ro-🚀" });
    assert.deepEqual(
      (await s.queryRollouts()).map((r) => r.rolloutId),
      ["ro-🚀"],
    );
    await s.close();
  });
}

test("span times a Parquet part cannot hold are refused at the boundary", async () => {
  const s = await openStore(freshDir(), { checkpointIntervalMs: 0 });
  const r = await s.startRollout({ input: 1, rolloutId: "ro-t" });
  await assert.rejects(
    s.addSpan(makeSpan("ro-t", r.attempt.attemptId, { startTime: 1e20, endTime: 1e20 })),
    /startTime: .* outside the times a store keeps/,
  );
  await assert.rejects(s.addSpan(makeSpan("ro-t", r.attempt.attemptId, { endTime: -9e15 })), /endTime/);
  await s.addSpan(makeSpan("ro-t", r.attempt.attemptId, { startTime: -8.64e15, endTime: 8.64e15 }));
  await s.close();
});

/** A span as an earlier version logged it: no checks, any text, any time. */
function rawSpan(attemptId: string, sequenceId: number, extra: Partial<Span>): Span {
  return { ...makeSpan("ro-old", attemptId), sequenceId, status: { statusCode: "OK", description: null }, ...extra } as Span;
}

test("a WAL record an earlier version acknowledged with a lone surrogate or an out-of-range time is set aside on reopen: open, flush and close never throw", async () => {
  const dir = freshDir();
  const w = await openStore(dir, { checkpointIntervalMs: 0 });
  const r = await w.startRollout({ input: 1, rolloutId: "ro-old" });
  const aid = r.attempt.attemptId;
  await w.addSpans([makeSpan("ro-old", aid, { name: "a" }), makeSpan("ro-old", aid, { name: "b" })]);
  const crashed = crashCopy(dir);
  await w.close();
  // Plant records in the live segment exactly as the first release wrote them (its encoder, no boundary check).
  const seg = join(crashed, "wal", readdirSync(join(crashed, "wal")).sort().at(-1)!);
  const badName = `bad${HIGH}name`;
  appendFileSync(seg, encodeRecord({ spans: [rawSpan(aid, 2, { name: badName }), rawSpan(aid, 3, { name: "c" })] }));
  appendFileSync(seg, encodeRecord({ spans: [rawSpan(aid, 4, { name: "late", startTime: 1e20, endTime: 1e20 })] }));
  appendFileSync(seg, encodeRecord({ spans: [rawSpan(aid, 5, { name: "d", attributes: { v: `x${LOW}` } })] }));
  appendFileSync(seg, encodeRecord({ spans: [rawSpan(aid, 6, { name: "e" })] }));
  const kept = ["a", "b", "c", "e"];

  // Readers (and the WAL reader for outside engines) skip them before any writer has run.
  assert.deepEqual(
    readWalSpans(crashed).map((x) => x.name),
    kept,
  );
  const reader = (await openStore(crashed, { readOnly: true, followIntervalMs: 0 })) as DurableStore;
  assert.deepEqual(
    (await reader.querySpans()).map((x) => x.name),
    kept,
  );
  assert.equal((await reader.statistics()).quarantinedSpans, 3);
  await reader.close();

  // The same directory again, for a crash that comes after the quarantine file but before the segment's snapshot.
  const beforeFold = crashCopy(crashed);
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => void warned.push(a.join(" "));
  let s: DurableStore;
  try {
    s = (await openStore(crashed, { checkpointIntervalMs: 0 })) as DurableStore;
  } finally {
    console.warn = warn;
  }
  assert.ok(
    warned.some((m) => /set aside 3 span\(s\) of WAL segment/.test(m)),
    warned.join("\n"),
  );
  assert.deepEqual(
    (await s.querySpans()).map((x) => [x.sequenceId, x.name]),
    [
      [0, "a"],
      [1, "b"],
      [3, "c"],
      [6, "e"],
    ],
  );
  assert.equal((await s.statistics()).quarantinedSpans, 3);
  // The quarantine file holds the spans as they were logged, surrogates and all.
  const qfiles = readdirSync(join(crashed, "quarantine"));
  assert.equal(qfiles.length, 1);
  const lines = readFileSync(join(crashed, "quarantine", qfiles[0]), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.span.sequenceId),
    [2, 4, 5],
  );
  assert.equal(lines[0].span.name, badName);
  assert.match(lines[0].problem, /^name: lone UTF-16 surrogate U\+D83D/);
  assert.equal(lines[2].span.attributes.v, `x${LOW}`);
  cpSync(join(crashed, "quarantine"), join(beforeFold, "quarantine"), { recursive: true });
  console.warn = () => {};
  let again0: DurableStore;
  try {
    again0 = (await openStore(beforeFold, { checkpointIntervalMs: 0 })) as DurableStore;
  } finally {
    console.warn = warn;
  }
  assert.equal(again0.quarantinedSpans, 3);
  assert.deepEqual(readdirSync(join(beforeFold, "quarantine")), qfiles);
  assert.deepEqual(
    (await again0.querySpans()).map((x) => x.sequenceId),
    [0, 1, 3, 6],
  );
  await again0.close();
  // The store goes on: new spans continue the sequence, checkpoints and close work.
  await s.addSpan(makeSpan("ro-old", aid, { name: "f" }));
  await s.flush();
  await s.close();
  assert.deepEqual(readdirSync(join(crashed, "wal")), []);
  const again = (await openStore(crashed)) as DurableStore;
  assert.deepEqual(
    (await again.querySpans()).map((x) => [x.sequenceId, x.name]),
    [
      [0, "a"],
      [1, "b"],
      [3, "c"],
      [6, "e"],
      [7, "f"],
    ],
  );
  assert.equal((await again.statistics()).quarantinedSpans, 3);
  await again.close();
});

test("a leading U+FEFF in any text reads back byte for byte from memory, the WAL, Parquet and a reopen, and lies in the part file", async () => {
  const dir = freshDir();
  const s = await openStore(dir, { checkpointIntervalMs: 0 });
  const rid = "\uFEFFro-bom";
  const r = await s.startRollout({ input: 1, rolloutId: rid });
  const aid = r.attempt.attemptId;
  const texts = ["\uFEFFname", "\uFEFF", "\uFEFF\uFEFF2", "a\uFEFF"];
  const drafts: Draft[] = texts.map((t) =>
    makeSpan(rid, aid, {
      name: t,
      status: { statusCode: "ERROR", description: t },
      attributes: { [t]: t },
      events: [{ name: t, timestamp: 1, attributes: {} }],
    }),
  );
  const acked = await s.addSpans(drafts);
  const check = (got: Span[], where: string) => {
    assert.deepEqual(got, acked, where);
    for (let i = 0; i < texts.length; i++) {
      assert.equal(got[i].name, texts[i], `${where}: name ${i}`);
      assert.equal(got[i].status.description, texts[i], `${where}: description ${i}`);
      assert.equal(got[i].rolloutId, rid, `${where}: rolloutId`);
    }
  };
  check(await s.querySpans(), "memory");
  const copy = crashCopy(dir);
  const fromWal = await openStore(copy, { readOnly: true, followIntervalMs: 0 });
  check(await fromWal.querySpans(), "WAL");
  await fromWal.close();
  await s.close();
  // Reopened, the spans live only in Parquet.
  const cold = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
  assert.equal((await cold.statistics()).spansInMemory, 0);
  check(await cold.querySpans(), "Parquet");
  check(await cold.querySpans({ rolloutId: rid, attemptId: aid }), "Parquet, by attempt");
  await cold.close();
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  const rows = (
    await c.runAndReadAll(
      `SELECT hex(name) AS h, hex(rollout_id) AS r FROM read_parquet('${join(dir, "spans", "part-*.parquet")}') ORDER BY sequence_id`,
    )
  ).getRowObjectsJS();
  assert.equal(rows[0].h, "EFBBBF6E616D65");
  assert.equal(rows[0].r, Buffer.from(rid).toString("hex").toUpperCase());
  c.closeSync();
  db.closeSync();
});

test("spans read back from Parquet come in the same order as from memory whatever characters the rollout ids hold", async () => {
  const dir = freshDir();
  const s = await openStore(dir, { checkpointIntervalMs: 0 });
  const m = new MemoryStore();
  // JS orders "a\u{1F680}" before "a\uFFFD" (UTF-16 units), UTF-8 bytes the other way round.
  for (const rid of ["a\uFFFD", "a\u{1F680}", "a\uE000", "a\u{10000}", "ab"]) {
    for (const st of [s, m]) {
      const r = await st.startRollout({ input: 1, rolloutId: rid });
      await st.addSpans([makeSpan(rid, r.attempt.attemptId, { name: "x" }), makeSpan(rid, r.attempt.attemptId, { name: "y" })]);
    }
  }
  await s.close();
  const cold = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
  for (const q of [{}, { limit: 3 }, { name: "y" }, { name: "x", limit: 2 }]) {
    const ids = async (st: LightningStore) => (await st.querySpans(q)).map((x) => `${x.rolloutId}:${x.name}`);
    assert.deepEqual(await ids(cold), await ids(m), JSON.stringify(q));
  }
  await cold.close();
  await m.close();
});

// ---------------------------------------------------------------------------
// property: arbitrary Unicode through every field and back out of every layer

const SPECIALS = [
  "\uFEFF",
  "\u0000",
  "\u202E",
  "\u200F",
  "\u061C",
  "\u{1F680}",
  "\u{10FFFF}",
  "\uFFFD",
  "\uFFFE",
  "\u2028",
  "\\",
  '"',
  "\n",
  "\t",
  "'",
  "%",
  "é",
  "e\u0301",
];
const LONE = [HIGH, LOW, "\uDBFF", "\uDC00"];
const unit = (withLone: boolean) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    { weight: 3, arbitrary: fc.constantFrom(...SPECIALS) },
    { weight: withLone ? 1 : 0, arbitrary: fc.constantFrom(...LONE) },
  );
const text = (withLone = false) =>
  fc.oneof(
    { weight: 30, arbitrary: fc.string({ unit: unit(withLone), maxLength: 12 }) },
    // Very long strings: a span line far beyond DuckDB's default JSON object size and a WAL write.
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.string({ unit: unit(withLone), minLength: 1, maxLength: 4 }), fc.integer({ min: 10_000, max: 100_000 }))
        .map(([s, k]) => s.repeat(Math.ceil(k / s.length))),
    },
  );
const attrValue = (t: fc.Arbitrary<string>) =>
  fc.oneof(
    t,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(t, { maxLength: 3 }),
  );
const attributes = (t: fc.Arbitrary<string>) => fc.dictionary(t, attrValue(t), { maxKeys: 4 });

const spanFields = (t: fc.Arbitrary<string>) =>
  fc.record({
    name: t,
    description: fc.option(t, { nil: null }),
    attributes: attributes(t),
    events: fc.array(fc.record({ name: t, timestamp: fc.integer({ min: 0, max: 2e12 }), attributes: attributes(t) }), { maxLength: 2 }),
    links: fc.array(fc.record({ traceId: t, spanId: t, attributes: attributes(t) }), { maxLength: 2 }),
    resource: fc.record({ attributes: attributes(t), schemaUrl: t }),
    startTime: fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }),
  });

function toDraft(rid: string, aid: string, f: Record<string, unknown>): Draft {
  const start = f.startTime as number;
  return makeSpan(rid, aid, {
    name: f.name as string,
    status: { statusCode: "ERROR", description: f.description as string | null },
    attributes: f.attributes as Span["attributes"],
    events: f.events as Span["events"],
    links: f.links as Span["links"],
    resource: f.resource as Span["resource"],
    startTime: start,
    endTime: start,
  });
}

/** Every string in a value, keys included. */
function allText(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (typeof v !== "object" || v === null) return [];
  return Object.entries(v).flatMap(([k, x]) => [...(Array.isArray(v) ? [] : [k]), ...allText(x)]);
}

/** fc.assert, with the report cut short: a counterexample may hold strings of 300k characters. */
async function assertProperty<T>(prop: fc.IAsyncPropertyWithHooks<T>, params: fc.Parameters<T>): Promise<void> {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  const details = await fc.check(prop, { seed, ...params });
  if (!details.failed) return;
  const report = `${fc.defaultReportMessage(details) ?? "property failed"}\n${String(details.errorInstance)}`;
  throw new Error(`${report.length > 4000 ? `${report.slice(0, 4000)}... (cut)` : report}\n(rerun with FC_SEED=${seed})`);
}

/** What every layer must give back: the acknowledged span under JSON's rules (which -0 and key order follow). */
const jsonCopy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

test("property: arbitrary Unicode (BOM, NUL, RTL, 4-byte, very long) in every span field reads back exactly from memory, WAL, Parquet and a reopen", {
  timeout: 120_000,
}, async () => {
  const rid = "ro-prop";
  await assertProperty(
    fc.asyncProperty(
      fc.array(spanFields(text()), { minLength: 1, maxLength: 4 }),
      fc.string({ unit: unit(false), minLength: 1, maxLength: 8 }),
      async (fields, ridSuffix) => {
        const dir = freshDir();
        const s = await openStore(dir, { checkpointIntervalMs: 0 });
        const m = new MemoryStore();
        const roll = `${rid}${ridSuffix}`;
        const a = await s.startRollout({ input: 1, rolloutId: roll });
        const ma = await m.startRollout({ input: 1, rolloutId: roll });
        const drafts = fields.map((f) => toDraft(roll, a.attempt.attemptId, f));
        const acked = jsonCopy(await s.addSpans(drafts));
        await m.addSpans(drafts.map((d) => ({ ...d, attemptId: ma.attempt.attemptId })));
        for (let i = 0; i < fields.length; i++) assert.equal(acked[i].name, fields[i].name);
        assert.deepEqual(await s.querySpans(), acked, "durable, memory");
        assert.deepEqual(
          (await m.querySpans()).map((x) => ({ ...x, attemptId: a.attempt.attemptId })),
          acked,
          "memory store",
        );
        const copy = crashCopy(dir);
        const wal = await openStore(copy, { readOnly: true, followIntervalMs: 0 });
        assert.deepEqual(await wal.querySpans(), acked, "from the WAL");
        await wal.close();
        // The writer recovers the copy: DuckDB folds the segment into a part.
        const recovered = await openStore(copy);
        assert.deepEqual(await recovered.querySpans(), acked, "recovered");
        await recovered.close();
        await s.close();
        await m.close();
        const cold = await openStore(dir, { readOnly: true, followIntervalMs: 0 });
        assert.deepEqual(await cold.querySpans(), acked, "from Parquet");
        assert.deepEqual(await cold.querySpans({ rolloutId: roll, attemptId: a.attempt.attemptId }), acked, "from Parquet, by attempt");
        await cold.close();
        rmSync(dir, { recursive: true, force: true });
        rmSync(copy, { recursive: true, force: true });
      },
    ),
    { numRuns: 10 },
  );
});

test("property: a span is stored exactly or refused whole with a ValidationError, and refusal changes nothing", {
  timeout: 60_000,
}, async () => {
  const s = await openStore(freshDir(), { checkpointIntervalMs: 0 });
  const r = await s.startRollout({ input: 1, rolloutId: "ro-any" });
  const aid = r.attempt.attemptId;
  const stored: Span[] = [];
  await assertProperty(
    // Half the spans are well-formed for sure, half likely hold a lone surrogate somewhere.
    fc.asyncProperty(fc.oneof(spanFields(text(false)), spanFields(text(true))), async (f) => {
      const draft = toDraft("ro-any", aid, f);
      const wellFormed = allText(draft).every((t) => (t as string & { isWellFormed(): boolean }).isWellFormed());
      try {
        stored.push(jsonCopy(await s.addSpan(draft)));
        assert.ok(wellFormed, "a lone surrogate was acknowledged");
      } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        assert.ok(!wellFormed, `refused well-formed text: ${(e as Error).message}`);
      }
      assert.deepEqual(await s.querySpans(), stored);
    }),
    { numRuns: 100 },
  );
  await (s as DurableStore).flush();
  await s.close();
  assert.ok(stored.length > 0);
});

// The proxy over HTTP with the real `openai` client. The policy here is a
// scripted generator (reverses the prompt's last line) so answers are known;
// the native-policy path is covered in llm-policy.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import * as agl from "../src/index.js";

const bytes: agl.llm.TokenizerLike = {
  encode: (t) => [...Buffer.from(t, "utf8")],
  decode: (ids) => Buffer.from(ids.filter((i) => i < 256)).toString("utf8"),
  applyChatTemplate: (msgs, o) => msgs.map((m) => `${m.role}: ${m.content}\n`).join("") + (o?.addGenerationPrompt ? "assistant:" : ""),
  eosId: 256,
};
class Scripted implements agl.llm.GeneratorLike {
  config = { ctx: 128 };
  calls = 0;
  async generate(prompts: number[][], opts: { n?: number; maxTokens?: number; seed?: number }) {
    this.calls++;
    const text = Buffer.from(prompts[0]).toString().split("\n").at(-2)?.split(": ")[1] ?? "";
    const out = [...Buffer.from([...text].reverse().join(""))].slice(0, opts.maxTokens ?? 99);
    const full = out.length < (opts.maxTokens ?? 99) ? [...out, 256] : out;
    const n = opts.n ?? 1;
    return {
      tokens: Array.from({ length: n }, () => full),
      logprobs: Array.from({ length: n }, () => full.map((_, i) => -0.25 * (i + 1))),
    };
  }
}

let store: agl.LightningStore;
let proxy: agl.llm.LlmProxy;
let policy: Scripted;
before(async () => {
  store = await agl.openStore();
  policy = new Scripted();
  proxy = await agl.llm.startLlmProxy({ store, backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }) });
});
after(() => proxy.close());

test("chat completions through the openai client are served by the policy and recorded in the calling rollout", async () => {
  const ar = await store.startRollout({ input: null });
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.urlFor(ar.rolloutId, ar.attempt.attemptId) });
  const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hello" }], n: 2 });
  assert.equal(r.choices.length, 2);
  assert.equal(r.choices[0].message.content, "olleh");
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.equal(r.usage?.completion_tokens, 12, "two choices of five bytes and an end token each");
  const spans = await store.querySpans({ rolloutId: ar.rolloutId });
  assert.equal(spans.length, 1);
  const [t] = agl.spansToTriplets(spans);
  assert.deepEqual(t.response.tokenIds, [...Buffer.from("olleh"), 256]);
  assert.deepEqual(t.response.logprobs, [-0.25, -0.5, -0.75, -1, -1.25, -1.5]);
  assert.deepEqual(t.prompt.tokenIds, [...Buffer.from("user: hello\nassistant:")]);
  assert.deepEqual(spans[0].attributes["gen_ai.completion.1.token_ids"], [...Buffer.from("olleh"), 256]);
});

test("streaming, stop strings, max_tokens and text completions behave like OpenAI's", async () => {
  const client = new OpenAI({ apiKey: "x", baseURL: proxy.url });
  const stream = await client.chat.completions.create({
    model: "tiny",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "abcdef" }],
  });
  let text = "";
  let finish: string | null = null;
  let usage = 0;
  let chunks = 0;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content !== undefined) chunks++;
    text += c.choices[0]?.delta?.content ?? "";
    finish = c.choices[0]?.finish_reason ?? finish;
    usage = c.usage?.completion_tokens ?? usage;
  }
  assert.equal(text, "fedcba");
  assert.equal(finish, "stop");
  assert.equal(usage, 7);
  assert.equal(chunks, 7, "one chunk per generated token, the end token included");
  const multi = await client.chat.completions.create({ model: "tiny", stream: true, messages: [{ role: "user", content: "naïve" }] });
  let joined = "";
  for await (const c of multi) joined += c.choices[0]?.delta?.content ?? "";
  assert.equal(joined, "evïan", "a character split over two byte tokens arrives whole");
  const stopped = await client.chat.completions.create({ model: "tiny", stop: ["c"], messages: [{ role: "user", content: "abcdef" }] });
  assert.equal(stopped.choices[0].message.content, "fed");
  const cut = await client.chat.completions.create({ model: "tiny", max_tokens: 2, messages: [{ role: "user", content: "abcdef" }] });
  assert.equal(cut.choices[0].message.content, "fe");
  assert.equal(cut.choices[0].finish_reason, "length");
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ["tiny"],
  );
});

test("bad requests get OpenAI-style error bodies and the proxy keeps serving", async () => {
  const post = (path: string, body: string) =>
    fetch(proxy.url + path, { method: "POST", headers: { "content-type": "application/json" }, body });
  const bad = await post("/chat/completions", "{not json");
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /not valid JSON/);
  const unknown = await post("/chat/completions", JSON.stringify({ model: "gpt-9", messages: [{ role: "user", content: "x" }] }));
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "model_not_found");
  const field = await post("/chat/completions", JSON.stringify({ model: "tiny", messages: [], temperature: 7 }));
  assert.equal(field.status, 400);
  assert.equal((await field.json()).error.type, "invalid_request_error");
  const huge = await post("/chat/completions", JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "x".repeat(500) }] }));
  assert.equal(huge.status, 400);
  assert.equal((await huge.json()).error.code, "context_length_exceeded");
  assert.equal((await fetch(`${proxy.url}/nope`)).status, 404);
  const ok = await post("/completions", JSON.stringify({ model: "tiny", prompt: "user: ab\n" }));
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).choices[0].text, "ba");
});

test("a call traced by the client is recorded once, with the agent name, and the runner hands agents their own base URL", async () => {
  const rstore = await agl.openStore();
  const p = await agl.llm.startLlmProxy({ store: rstore, backend: new agl.llm.PolicyBackend({ policy, tokenizer: bytes, model: "tiny" }) });
  try {
    await p.publish(rstore);
    const agent = agl.rollout(
      async (task: string, ctx) => {
        const client = new OpenAI({ apiKey: "x", baseURL: ctx.llm!.endpoint });
        const r = await client.chat.completions.create({ model: ctx.llm!.model, messages: [{ role: "user", content: task }] });
        return r.choices[0].message.content === [...task].reverse().join("") ? 1 : 0;
      },
      { name: "reverser" },
    );
    const res = await new agl.Trainer({ store: rstore, log: () => {} }).dev(agent, ["abc", "xyz"]);
    assert.equal(res.train.meanReward, 1);
    for (const r of res.rollouts) {
      const spans = await rstore.querySpans({ rolloutId: r.rolloutId });
      const llm = spans.filter(agl.adapter.isLlmSpan);
      assert.equal(llm.length, 1, "one LLM span per call");
      const [t] = agl.spansToTriplets(spans, { agentMatch: "reverser" });
      assert.equal(t.reward, 1);
      assert.deepEqual(t.response.tokenIds, [...Buffer.from([...(r.input as string)].reverse().join("")), 256]);
    }
  } finally {
    await p.close();
  }
});

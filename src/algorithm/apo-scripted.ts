// A scripted stand-in for a hosted LLM, for running APO where no hosted
// model can be reached (tests, offline notebooks). It is an OpenAI-compatible
// HTTP server on loopback that answers deterministically:
//   - critique requests: names the rules from `rules` the prompt still lacks;
//   - edit requests: variant v appends the v-th missing rule;
//   - anything else is an agent's question, answered by a simulated student
//     whose accuracy depends on which rules its prompt contains.
// It is not a model and proves nothing about real LLMs; it makes the
// algorithm's mechanics checkable and its notebook runnable offline.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CRITIQUE_MARK, EDIT_MARK } from "./apo-optimizer.js";

export interface ScriptedRule {
  text: string;
  /** How much the student's chance of a right answer rises when its prompt holds this rule. */
  gain: number;
  /** Without this rule the student wraps its answer in a sentence ("The answer is 7."). */
  formatsAnswer?: boolean;
}

export const DEFAULT_RULES: ScriptedRule[] = [
  { text: "Reply with the number only.", gain: 0, formatsAnswer: true },
  { text: "Add the ones digits first, then carry.", gain: 0.35 },
  { text: "Be friendly.", gain: -0.1 },
  { text: "Double-check the sum before answering.", gain: 0.25 },
];

export interface ScriptedOptimizerOptions {
  rules?: ScriptedRule[];
  /** The student's chance of a right answer before any rule. */
  baseAccuracy?: number;
  model?: string;
}

export interface ScriptedRequest {
  kind: "critique" | "edit" | "agent";
  body: { model?: string; messages?: { role: string; content: unknown }[]; [k: string]: unknown };
}

export interface ScriptedOptimizer {
  baseURL: string;
  apiKey: string;
  model: string;
  requests: ScriptedRequest[];
  close(): Promise<void>;
}

const text = (c: unknown): string =>
  typeof c === "string" ? c : Array.isArray(c) ? c.map((p) => (p as { text?: string }).text ?? "").join("") : "";
const between = (s: string, a: string, b: string) => {
  const i = s.indexOf(a);
  if (i < 0) return "";
  const j = s.indexOf(b, i + a.length);
  return s.slice(i + a.length, j < 0 ? undefined : j).trim();
};
const unit = (...key: unknown[]) => createHash("sha256").update(JSON.stringify(key)).digest().readUInt32BE(0) / 2 ** 32;

export async function startScriptedOptimizer(opts: ScriptedOptimizerOptions = {}): Promise<ScriptedOptimizer> {
  const rules = opts.rules ?? DEFAULT_RULES;
  const base = opts.baseAccuracy ?? 0.4;
  const model = opts.model ?? "scripted-optimizer";
  const requests: ScriptedRequest[] = [];
  const missing = (prompt: string) => rules.filter((r) => !prompt.includes(r.text));

  const answer = (body: ScriptedRequest["body"]): { kind: ScriptedRequest["kind"]; content: string } => {
    const user = text(body.messages?.findLast((m) => m.role === "user")?.content);
    if (user.includes(CRITIQUE_MARK)) {
      const prompt = between(user, "<prompt>", "</prompt>");
      const lack = missing(prompt);
      return {
        kind: "critique",
        content: lack.length
          ? `The prompt never says: ${lack.map((r) => JSON.stringify(r.text)).join("; ")}. The low-reward rollouts fail where such guidance was missing.`
          : "The prompt already covers what the rollouts needed.",
      };
    }
    if (user.includes(EDIT_MARK)) {
      const prompt = between(user, "<prompt>", "</prompt>");
      const [, v] = /variant (\d+) of (\d+)/.exec(user) ?? ["", "1"];
      const lack = missing(prompt);
      const add = lack.length ? lack[(Number(v) - 1) % lack.length].text : "";
      return { kind: "edit", content: `Here is the revised template.\n<prompt>\n${add ? `${prompt} ${add}` : prompt}\n</prompt>` };
    }
    // An agent's question: "a+b" somewhere in it, and the rules its prompt holds.
    const m = /(\d+)\s*\+\s*(\d+)/.exec(user);
    if (!m) return { kind: "agent", content: "I do not know." };
    const sum = Number(m[1]) + Number(m[2]);
    const held = rules.filter((r) => user.includes(r.text));
    const p = Math.min(1, Math.max(0, base + held.reduce((s, r) => s + r.gain, 0)));
    const value = unit(user, body.seed ?? null) < p ? sum : sum + 1;
    const bare = rules.some((r) => r.formatsAnswer && user.includes(r.text)) || !rules.some((r) => r.formatsAnswer);
    return { kind: "agent", content: bare ? String(value) : `The answer is ${value}.` };
  };

  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions"))
        return send(404, { error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" } });
      let body: ScriptedRequest["body"];
      try {
        body = JSON.parse(raw || "{}");
      } catch {
        return send(400, { error: { message: "body is not JSON", type: "invalid_request_error" } });
      }
      if (!Array.isArray(body.messages))
        return send(400, { error: { message: "messages must be an array", type: "invalid_request_error" } });
      const { kind, content } = answer(body);
      requests.push({ kind, body });
      const completion = content.split(/\s+/).length;
      send(200, {
        id: `scripted-${requests.length}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model ?? model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: completion, total_tokens: 1 + completion },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey: "scripted",
    model,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

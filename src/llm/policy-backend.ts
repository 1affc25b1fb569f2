// Serves completions from a policy held in this process: chat template ->
// token ids -> policy.generate -> text, with the ids and logprobs kept for
// training. Swapping the policy (new weights) needs no restart of agents.
// Several model names can be served side by side (one LoRA adapter per
// agent over one base): the request's model picks the generator.
import { join } from "node:path";
import { ValidationError } from "../types/errors.js";
import { BpeTokenizer } from "../tokenizer/bpe.js";
import { JinjaChatTemplate } from "../tokenizer/jinja-template.js";
import type { ChatTemplate } from "../tokenizer/chat-template.js";
import { TOOL_CALL_CLOSE } from "../tokenizer/tools.js";
import type { CompletionBackend, GeneratedChoice, GenerateRequest, GenerateResult, GeneratorLike, TokenizerLike } from "./backend.js";
import { PromptIdBuilder, replyKey, type PromptIds } from "./prompt-ids.js";
import { forcedToolPrefix, parseToolCalls } from "./tool-calls.js";

export interface PolicyBackendOptions {
  /** What serves `model`. Optional when `policies` names every model served. */
  policy?: GeneratorLike;
  tokenizer: TokenizerLike;
  /** The model name agents ask for to reach `policy`. */
  model?: string;
  /**
   * More models served beside `model`, by name: each request generates with the entry its `model` names, and
   * the recorded call carries that name (`gen_ai.request.model` / `gen_ai.response.model`, the span's name),
   * so training knows whose call it was. For multi-agent training, one LoRA adapter per agent over one base:
   * `{ planner: policy.adapter("planner"), solver: policy.adapter("solver") }`. All share the tokenizer and
   * chat template; the prompt limit is the smallest context among them.
   */
  policies?: Record<string, GeneratorLike>;
  /** Requests without a seed draw one from this seeded sequence, so samples differ but a run can be replayed. */
  seed?: number;
  /**
   * Requests without a seed that arrive within this many ms of each other and sample alike (n, temperature,
   * top_p, max tokens) share one `policy.generate` call (one prefill per prompt, one batched decode). Default 0
   * (off): in the demo loop (4 runners, 1-token answers) generate is under 1% of a rollout, so the window only
   * added latency (bench/RESULTS.md); it pays when many agents wait on long generations.
   */
  batchWindowMs?: number;
  /** Prompts per batched call at most; a full batch goes at once. Default 64. */
  maxBatch?: number;
  /**
   * How conversations become prompt text. Default: the tokenizer's own template (Arclight's tokenizers render
   * tools in Qwen2.5's markup; a tokenizer without a named built-in template serves no tools). Pass
   * `JinjaChatTemplate.fromModelDir(dir)` to render a pretrained model's own template.
   */
  chatTemplate?: ChatTemplate;
  /** Replies remembered so the next turn of a conversation reuses their exact token ids (see prompt-ids.ts). Default 1024. */
  replyMemory?: number;
}

function policyIssues(policy: unknown): string[] {
  const p = policy as GeneratorLike | null | undefined;
  if (typeof p?.generate !== "function") return ["policy must have a generate(prompts, opts) method"];
  if (!Number.isInteger(p.config?.ctx) || p.config.ctx < 2) return ["policy.config.ctx must be an integer >= 2"];
  return [];
}

// Checked at run time too: JavaScript callers (notebooks) get no type checking.
function checkOptions(opts: PolicyBackendOptions): void {
  if (typeof opts !== "object" || opts === null) throw new ValidationError("PolicyBackend", ["options must be an object"]);
  const ps = opts.policies;
  const many = ps !== undefined;
  const issues: string[] = [];
  if (many && (typeof ps !== "object" || ps === null || Array.isArray(ps) || Object.keys(ps).length === 0))
    issues.push("policies must be a non-empty object { modelName: policy }");
  else if (many) {
    for (const [name, p] of Object.entries(ps)) {
      if (!name) issues.push("policies: model names must be non-empty");
      issues.push(...policyIssues(p).map((m) => `policies[${JSON.stringify(name)}]: ${m}`));
    }
    if (typeof opts.model === "string" && Object.hasOwn(ps, opts.model))
      issues.push(`model ${JSON.stringify(opts.model)} is also a key of policies: name each served model once`);
  }
  // With `policies`, `policy` and `model` are optional but go together.
  if (!many || opts.policy !== undefined || opts.model !== undefined) issues.push(...policyIssues(opts.policy));
  const t = opts.tokenizer as Partial<TokenizerLike> | undefined;
  if (typeof t?.encode !== "function" || typeof t.decode !== "function" || typeof t.applyChatTemplate !== "function")
    issues.push("tokenizer must have encode, decode and applyChatTemplate methods");
  else if (t.eosId !== null && !Number.isInteger(t.eosId)) issues.push("tokenizer.eosId must be an integer or null");
  if ((!many || opts.policy !== undefined || opts.model !== undefined) && (typeof opts.model !== "string" || opts.model.length === 0))
    issues.push("model must be a non-empty string");
  const int = (name: keyof PolicyBackendOptions, min: number) => {
    const v = opts[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < min))
      issues.push(`${name} must be an integer >= ${min}, got ${String(v)}`);
  };
  int("seed", 0);
  int("maxBatch", 1);
  int("replyMemory", 0);
  const ct = opts.chatTemplate as Partial<ChatTemplate> | undefined;
  if (ct !== undefined && (typeof ct?.render !== "function" || (ct.toolCallSyntax !== null && ct.toolCallSyntax !== "hermes")))
    issues.push("chatTemplate must be a ChatTemplate (render(messages, opts), toolCallSyntax)");
  const w = opts.batchWindowMs;
  if (w !== undefined && (typeof w !== "number" || !Number.isFinite(w) || w < 0))
    issues.push(`batchWindowMs must be a number >= 0, got ${String(w)}`);
  if (issues.length) throw new ValidationError("PolicyBackend", issues);
}

type Samples = { tokens: number[][]; logprobs: number[][] };

interface Pending {
  prompt: number[];
  req: GenerateRequest;
  resolve(v: Samples): void;
  reject(e: unknown): void;
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error("The operation was aborted");
  e.name = "AbortError";
  return e;
}

export class PolicyBackend implements CompletionBackend {
  /** Model name -> what generates for it, `model` first. */
  private readonly served = new Map<string, GeneratorLike>();
  private readonly tokenizer: TokenizerLike;
  private nextSeed: number;
  private readonly batchWindowMs: number;
  private readonly maxBatch: number;
  private readonly queues = new Map<string, { items: Pending[]; timer: ReturnType<typeof setTimeout> | null }>();
  private readonly template: ChatTemplate;
  private readonly stopIds: readonly number[];
  private readonly prompts: PromptIdBuilder;
  private readonly prepared = new WeakMap<GenerateRequest, PromptIds>();
  /** Native generate calls made (a batched call counts once): what batching saves. */
  generateCalls = 0;

  constructor(opts: PolicyBackendOptions) {
    checkOptions(opts);
    if (opts.model !== undefined && opts.policy) this.served.set(opts.model, opts.policy);
    for (const [name, p] of Object.entries(opts.policies ?? {})) this.served.set(name, p);
    this.tokenizer = opts.tokenizer;
    this.nextSeed = (opts.seed ?? 0x5eed) >>> 0;
    this.batchWindowMs = opts.batchWindowMs ?? 0;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 64);
    const t = opts.tokenizer;
    const builtin = t.chatTemplate === "chatml" || t.chatTemplate === "plain";
    this.template = opts.chatTemplate ?? { toolCallSyntax: builtin ? "hermes" : null, render: (m, o) => t.applyChatTemplate(m, o) };
    const eos = t.eosId;
    this.stopIds = [...new Set([...(eos === null ? [] : [eos]), ...(t.stopIds ?? [])])];
    this.prompts = new PromptIdBuilder(t, opts.replyMemory ?? 1024);
  }

  /**
   * Serves a pretrained model directory: its tokenizer (tokenizer.json, with tokenizer_config.json's eos and pad)
   * and, when tokenizer_config.json has one, its own chat template rendered by Jinja, so tools and tool results
   * reach the model in the markup it was trained on.
   */
  static fromModelDir(dir: string, opts: Omit<PolicyBackendOptions, "tokenizer" | "chatTemplate">): PolicyBackend {
    if (typeof dir !== "string" || !dir) throw new ValidationError("PolicyBackend.fromModelDir", ["dir must be a non-empty path"]);
    const tokenizer = BpeTokenizer.fromFile(join(dir, "tokenizer.json"));
    const chatTemplate = JinjaChatTemplate.fromModelDir(dir) ?? undefined;
    return new PolicyBackend({ ...opts, tokenizer, ...(chatTemplate ? { chatTemplate } : {}) });
  }

  private drawSeed(): number {
    // Weyl sequence: distinct per call, and the same sequence for the same start.
    this.nextSeed = (this.nextSeed + 0x9e3779b9) >>> 0;
    return this.nextSeed;
  }

  /**
   * Serve `policy` under `model` (default: the first model served) from the next request on; requests in
   * flight finish on the old one. Only models already served can be swapped.
   */
  setPolicy(policy: GeneratorLike, model: string = this.models()[0]): void {
    const issues = policyIssues(policy);
    if (!this.served.has(model)) issues.push(this.unknownModel(model));
    if (issues.length) throw new ValidationError("PolicyBackend.setPolicy", issues);
    this.served.set(model, policy);
  }

  models(): string[] {
    return [...this.served.keys()];
  }

  get maxPromptTokens(): number {
    return Math.max(1, Math.min(...[...this.served.values()].map((p) => p.config.ctx)) - 1);
  }

  private unknownModel(model: string): string {
    return `model ${JSON.stringify(model)} is not served here; known models: ${this.models().join(", ")}`;
  }

  /** The generator for a model name; an unknown name is the client's error (a 400 naming the known ones). */
  private generatorFor(model: string): GeneratorLike {
    const p = this.served.get(model);
    if (!p) throw new ValidationError("model", [this.unknownModel(model)]);
    return p;
  }

  /** Checks what the template can express, then renders and encodes the prompt (memoized per request). */
  private prepare(req: GenerateRequest): PromptIds {
    const hit = this.prepared.get(req);
    if (hit) return hit;
    let out: PromptIds;
    if (!req.messages) {
      const text = req.prompt ?? "";
      out = { ids: this.tokenizer.encode(text, { allowSpecial: true }), text, promptText: text, reusedTokens: 0, drift: false };
    } else {
      const tools = req.tools?.length ? req.tools : undefined;
      const usesTools = !!tools || req.messages.some((m) => m.role === "tool" || m.tool_calls?.length);
      if (usesTools && this.template.toolCallSyntax === null)
        throw new ValidationError("tools", [`model ${req.model}'s chat template cannot render tools or tool messages`]);
      const choice = req.toolChoice;
      if (choice && choice !== "auto" && choice !== "none" && !tools)
        throw new ValidationError("tool_choice", [`${JSON.stringify(choice)} needs tools`]);
      if (typeof choice === "object" && !tools!.some((t) => t.function.name === choice.function.name))
        throw new ValidationError("tool_choice", [`names ${JSON.stringify(choice.function.name)}, which is not in tools`]);
      out = this.prompts.build(this.template, req.messages, tools, tools ? forcedToolPrefix(choice) : "");
    }
    this.prepared.set(req, out);
    return out;
  }

  countPromptTokens(req: GenerateRequest): number {
    return this.prepare(req).ids.length;
  }

  /** What each token adds to the decoded text, so a stream can send one chunk per token. */
  private pieces(ids: number[], text: string): string[] {
    const out: string[] = [];
    let shown = 0;
    for (let k = 1; k <= ids.length; k++) {
      const prefix = this.tokenizer.decode(ids.slice(0, k), { skipSpecial: true });
      // A prefix ending inside a multi-byte character decodes to U+FFFD; hold it until the character completes.
      const upto = prefix.endsWith("\uFFFD") && k < ids.length ? shown : Math.min(prefix.length, text.length);
      out.push(text.slice(shown, Math.max(shown, upto)));
      shown = Math.max(shown, upto);
    }
    if (shown < text.length && out.length) out[out.length - 1] += text.slice(shown);
    return out;
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const policy = this.generatorFor(req.model);
    const prompt = this.prepare(req);
    const promptTokenIds = prompt.ids;
    const room = policy.config.ctx - promptTokenIds.length;
    const maxTokens = Math.max(0, Math.min(req.maxTokens, room));
    const out =
      req.seed === undefined && this.batchWindowMs > 0
        ? await this.enqueue(promptTokenIds, { ...req, maxTokens })
        : await this.callPolicy(policy, [promptTokenIds], { ...req, maxTokens }, req.seed ?? this.drawSeed(), req.signal);
    const forced = prompt.text.slice(prompt.promptText.length);
    const parseTools = !!req.tools?.length && req.toolChoice !== "none";
    const choices = out.tokens.map((ids, i): GeneratedChoice => {
      let tokenIds = ids;
      let logprobs = out.logprobs[i] ?? [];
      const stopped = tokenIds.length > 0 && this.stopIds.includes(tokenIds.at(-1)!);
      let finishReason: GeneratedChoice["finishReason"] = stopped || tokenIds.length < maxTokens ? "stop" : "length";
      const textIds = stopped ? tokenIds.slice(0, -1) : tokenIds;
      let text = this.tokenizer.decode(textIds, { skipSpecial: true });
      // Stop strings are cut after generation; the ids are cut to the shortest prefix that holds the text.
      const { at: cut, stop } = firstStop(text, req.stop);
      if (cut >= 0) {
        text = text.slice(0, cut);
        tokenIds = this.idsCovering(textIds, cut);
        logprobs = logprobs.slice(0, tokenIds.length);
        finishReason = "stop";
      }
      const choice: GeneratedChoice = {
        text,
        tokenIds,
        logprobs,
        finishReason,
        tokenTexts: this.pieces(tokenIds, text),
        ...(stop !== undefined ? { stopSequence: stop } : {}),
      };
      if (parseTools) {
        let parsed = parseToolCalls(forced + text, req.tools!, req.toolCallIdPrefix);
        if (parsed && "toolCalls" in parsed && req.parallelToolCalls === false && parsed.toolCalls.length > 1) {
          // One call asked for: the reply ends after the first block (ids cut there, as for a stop string).
          const end = text.indexOf(TOOL_CALL_CLOSE) + TOOL_CALL_CLOSE.length;
          choice.text = text = text.slice(0, end);
          choice.tokenIds = tokenIds = this.idsCovering(textIds, end);
          choice.logprobs = logprobs.slice(0, tokenIds.length);
          choice.tokenTexts = this.pieces(choice.tokenIds, text);
          parsed = { content: parsed.content, toolCalls: parsed.toolCalls.slice(0, 1) };
        }
        if (parsed && "error" in parsed) {
          choice.toolCallError = parsed.error;
          if (forced) {
            // the forced opening is part of the reply the client reads (though not of the ids the model wrote)
            choice.text = forced + text;
            if (choice.tokenTexts?.length) choice.tokenTexts[0] = forced + choice.tokenTexts[0];
          }
        } else if (parsed) {
          choice.text = parsed.content;
          choice.toolCalls = parsed.toolCalls;
          choice.finishReason = "tool_calls";
          delete choice.tokenTexts;
        }
      }
      if (req.messages)
        this.prompts.remember(replyKey({ content: choice.text, tool_calls: choice.toolCalls }), prompt, choice.tokenIds, this.stopIds);
      return choice;
    });
    return { model: req.model, promptTokenIds, choices, promptReuse: { reusedTokens: prompt.reusedTokens, drift: prompt.drift } };
  }

  /** The shortest prefix of `ids` whose text reaches `chars` characters. */
  private idsCovering(ids: number[], chars: number): number[] {
    let k = 0;
    while (k < ids.length && this.tokenizer.decode(ids.slice(0, k), { skipSpecial: true }).length < chars) k++;
    return ids.slice(0, k);
  }

  private callPolicy(
    policy: GeneratorLike,
    prompts: number[][],
    req: GenerateRequest,
    seed: number,
    signal: AbortSignal | undefined,
  ): Promise<Samples> {
    this.generateCalls++;
    return policy.generate(prompts, {
      n: req.n,
      temperature: req.temperature,
      topP: req.topP,
      ...(req.topK ? { topK: req.topK } : {}),
      maxTokens: req.maxTokens,
      stop: [...this.stopIds],
      seed,
      signal,
    });
  }

  // A request with an explicit seed is never batched: its samples must not depend on what else arrived.
  // Requests for different models never share a call (each adapter generates on its own).
  private enqueue(prompt: number[], req: GenerateRequest): Promise<Samples> {
    if (req.signal?.aborted) return Promise.reject(abortReason(req.signal));
    const key = JSON.stringify([req.model, req.n, req.temperature, req.topP, req.topK ?? 0, req.maxTokens]);
    return new Promise((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = { items: [], timer: null }));
      q.items.push({ prompt, req, resolve, reject });
      // an aborted request leaves at once; the others in its batch still get their samples
      req.signal?.addEventListener("abort", () => reject(abortReason(req.signal!)), { once: true });
      if (q.items.length >= this.maxBatch) this.flush(key);
      else if (!q.timer) q.timer = setTimeout(() => this.flush(key), this.batchWindowMs);
    });
  }

  private flush(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    this.queues.delete(key);
    if (q.timer) clearTimeout(q.timer);
    const items = q.items.filter((it) => !it.req.signal?.aborted);
    if (items.length) void this.runBatch(items);
  }

  private async runBatch(items: Pending[]): Promise<void> {
    const n = items[0].req.n;
    // Looked up when the batch runs, so a setPolicy during the window applies to it; generate checked the
    // name before queueing, and served models are never removed.
    const policy = this.served.get(items[0].req.model)!;
    try {
      const out = await this.callPolicy(
        policy,
        items.map((it) => it.prompt),
        items[0].req,
        this.drawSeed(),
        undefined,
      );
      items.forEach((it, i) =>
        it.resolve({ tokens: out.tokens.slice(i * n, (i + 1) * n), logprobs: out.logprobs.slice(i * n, (i + 1) * n) }),
      );
    } catch (e) {
      if (items.length === 1) return items[0].reject(e);
      // isolate the failure: each request again on its own, so only the one at fault gets an error
      await Promise.all(
        items.map((it) => this.callPolicy(policy, [it.prompt], it.req, this.drawSeed(), it.req.signal).then(it.resolve, it.reject)),
      );
    }
  }
}

function firstStop(text: string, stops: string[]): { at: number; stop?: string } {
  let best: { at: number; stop?: string } = { at: -1 };
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best.at < 0 || i < best.at)) best = { at: i, stop: s };
  }
  return best;
}

// Serves completions from a policy held in this process: chat template ->
// token ids -> policy.generate -> text, with the ids and logprobs kept for
// training. Swapping the policy (new weights) needs no restart of agents.
import type { CompletionBackend, GenerateRequest, GenerateResult, GeneratorLike, TokenizerLike } from "./backend.js";

export interface PolicyBackendOptions {
  policy: GeneratorLike;
  tokenizer: TokenizerLike;
  /** The model name agents ask for. */
  model: string;
  /** Requests without a seed draw one from this seeded sequence, so samples differ but a run can be replayed. */
  seed?: number;
}

export class PolicyBackend implements CompletionBackend {
  private policy: GeneratorLike;
  private readonly tokenizer: TokenizerLike;
  private readonly model: string;
  private nextSeed: number;

  constructor(opts: PolicyBackendOptions) {
    this.policy = opts.policy;
    this.tokenizer = opts.tokenizer;
    this.model = opts.model;
    this.nextSeed = (opts.seed ?? 0x5eed) >>> 0;
  }

  private drawSeed(): number {
    // Weyl sequence: distinct per call, and the same sequence for the same start.
    this.nextSeed = (this.nextSeed + 0x9e3779b9) >>> 0;
    return this.nextSeed;
  }

  /** Serve `policy` from the next request on (requests in flight finish on the old one). */
  setPolicy(policy: GeneratorLike): void {
    this.policy = policy;
  }

  models(): string[] {
    return [this.model];
  }

  get maxPromptTokens(): number {
    return Math.max(1, this.policy.config.ctx - 1);
  }

  private promptIds(req: Pick<GenerateRequest, "messages" | "prompt">): number[] {
    const text = req.messages ? this.tokenizer.applyChatTemplate(req.messages, { addGenerationPrompt: true }) : (req.prompt ?? "");
    return this.tokenizer.encode(text, { allowSpecial: true });
  }

  countPromptTokens(req: Pick<GenerateRequest, "messages" | "prompt">): number {
    return this.promptIds(req).length;
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
    const promptTokenIds = this.promptIds(req);
    const room = this.policy.config.ctx - promptTokenIds.length;
    const maxTokens = Math.max(0, Math.min(req.maxTokens, room));
    const eos = this.tokenizer.eosId;
    const out = await this.policy.generate([promptTokenIds], {
      n: req.n,
      temperature: req.temperature,
      topP: req.topP,
      maxTokens,
      stop: eos === null ? [] : [eos],
      seed: req.seed ?? this.drawSeed(),
      signal: req.signal,
    });
    const choices = out.tokens.map((ids, i) => {
      let tokenIds = ids;
      let logprobs = out.logprobs[i] ?? [];
      const stopped = eos !== null && tokenIds.at(-1) === eos;
      let finishReason: "stop" | "length" = stopped || tokenIds.length < maxTokens ? "stop" : "length";
      const textIds = stopped ? tokenIds.slice(0, -1) : tokenIds;
      let text = this.tokenizer.decode(textIds, { skipSpecial: true });
      // Stop strings are cut after generation; the ids are cut to the shortest prefix that holds the text.
      const cut = firstStop(text, req.stop);
      if (cut >= 0) {
        text = text.slice(0, cut);
        let k = 0;
        while (k < textIds.length && this.tokenizer.decode(textIds.slice(0, k), { skipSpecial: true }).length < cut) k++;
        tokenIds = textIds.slice(0, k);
        logprobs = logprobs.slice(0, k);
        finishReason = "stop";
      }
      return { text, tokenIds, logprobs, finishReason, tokenTexts: this.pieces(tokenIds, text) };
    });
    return { model: this.model, promptTokenIds, choices };
  }
}

function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

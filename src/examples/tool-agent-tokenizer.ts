// A small vocabulary for the calculator tool task, so a tiny policy learns
// the tool-call format in seconds on a CPU. It is an ordinary tokenizer with
// a few long pieces: the whole Hermes/Qwen2.5 opening of a `calculate` call
// (`<tool_call>\n{"name": "calculate", "arguments": {"expression": "`) is one
// token and its closing another, so the text the proxy decodes and parses is
// the real tool-call markup, and a reply re-rendered by the template encodes
// back to the same ids. Its chat template is compact: role markers, a tools
// marker, no system prompt (frameworks differ in what they put there, and
// the tiny model has no use for instructions).
import type { ChatTemplateOptions } from "../tokenizer/tokenizer.js";
import { ValidationError } from "../types/errors.js";

/** The tool's name and its one argument, as every agent of the task declares them. */
export const CALCULATE = "calculate";
export const CALL_OPEN = `<tool_call>\n{"name": "${CALCULATE}", "arguments": {"expression": "`;
export const CALL_CLOSE = `"}}\n</tool_call>`;

const EOS = "<|endoftext|>";
const SPECIALS = [EOS, "<|tools|>", "<|user|>", "<|assistant|>", "<|tool|>"] as const;
const PIECES = [CALL_OPEN, CALL_CLOSE] as const;
const CHARS = [..."0123456789+-*()=?., abcdefghijklmnopqrstuvwxyz:"];

/** What a message of the task looks like to the template (OpenAI's shape: content, tool_calls, role "tool"). */
export interface ToolTurn {
  role: string;
  content: string;
  tool_calls?: { function: { name: string; arguments: string } }[];
}

export interface ToolRenderOptions extends ChatTemplateOptions {
  tools?: readonly { function: { name: string } }[];
}

export class ToolTaskTokenizer {
  readonly eosId = 0;
  readonly stopIds: readonly number[] = [0];
  readonly vocab: readonly string[] = [...SPECIALS, ...PIECES, ...CHARS];
  readonly vocabSize = this.vocab.length;
  private readonly ids = new Map(this.vocab.map((t, i) => [t, i]));
  // longest first, so a piece wins over the characters it starts with
  private readonly byLength = [...this.vocab].sort((a, b) => b.length - a.length);

  encode(text: string, opts: { allowSpecial?: boolean } = {}): number[] {
    if (typeof text !== "string") throw new ValidationError("ToolTaskTokenizer.encode", ["text must be a string"]);
    const out: number[] = [];
    for (let i = 0; i < text.length; ) {
      // uncased, like the letters of the task need nothing more
      const lower = text[i].toLowerCase();
      const hit = this.byLength.find((t) =>
        t.length > 1 ? text.startsWith(t, i) && (opts.allowSpecial || !SPECIALS.includes(t as never)) : t === lower,
      );
      if (!hit)
        throw new ValidationError("ToolTaskTokenizer.encode", [
          `character ${JSON.stringify(text[i])} at ${i} is not in the calculator task's vocabulary`,
        ]);
      out.push(this.ids.get(hit)!);
      i += hit.length;
    }
    return out;
  }

  decode(ids: number[], opts: { skipSpecial?: boolean } = {}): string {
    let out = "";
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new ValidationError("ToolTaskTokenizer.decode", [`id ${id} is outside 0..${this.vocabSize - 1}`]);
      if (id < SPECIALS.length && opts.skipSpecial) continue;
      out += this.vocab[id];
    }
    return out;
  }

  /**
   * `<|tools|>` when `calculate` is offered, then per message: `<|user|>text`, `<|assistant|>text` + its
   * calls in Hermes markup + end token, `<|tool|>result`; system messages are not shown. Another tool is
   * an error: this model knows only the one.
   */
  applyChatTemplate(messages: readonly ToolTurn[], opts: ToolRenderOptions = {}): string {
    const where = "ToolTaskTokenizer.applyChatTemplate";
    const unknown = (opts.tools ?? []).map((t) => t.function?.name).filter((n) => n !== CALCULATE);
    if (unknown.length)
      throw new ValidationError(where, [`the calculator model knows only the ${CALCULATE} tool, not ${unknown.join(", ")}`]);
    let out = opts.tools?.length ? "<|tools|>" : "";
    for (const m of messages) {
      if (m.role === "system" || m.role === "developer") continue;
      if (m.role === "user") out += `<|user|>${m.content}`;
      else if (m.role === "tool") out += `<|tool|>${m.content}`;
      else if (m.role === "assistant") {
        out += `<|assistant|>${m.content ?? ""}`;
        for (const c of m.tool_calls ?? []) out += `${CALL_OPEN}${expressionOf(where, c.function)}${CALL_CLOSE}`;
        out += EOS;
      } else throw new ValidationError(where, [`role ${JSON.stringify(m.role)} is not one the calculator model knows`]);
    }
    if (opts.addGenerationPrompt) out += "<|assistant|>";
    return out;
  }

  /** The template in the proxy's terms (PolicyBackend's `chatTemplate`): Hermes tool-call markup. */
  template(): { toolCallSyntax: "hermes"; render: (messages: readonly ToolTurn[], opts?: ToolRenderOptions) => string } {
    return { toolCallSyntax: "hermes", render: (m, o) => this.applyChatTemplate(m, o) };
  }
}

function expressionOf(where: string, f: { name: string; arguments: string }): string {
  if (f.name !== CALCULATE)
    throw new ValidationError(where, [`tool call to ${JSON.stringify(f.name)}: the calculator model knows only ${CALCULATE}`]);
  let args: unknown;
  try {
    args = JSON.parse(f.arguments);
  } catch {
    throw new ValidationError(where, [`${CALCULATE} arguments are not JSON: ${f.arguments.slice(0, 80)}`]);
  }
  const e = (args as { expression?: unknown } | null)?.expression;
  if (typeof e !== "string") throw new ValidationError(where, [`${CALCULATE} needs {"expression": string}`]);
  return e;
}

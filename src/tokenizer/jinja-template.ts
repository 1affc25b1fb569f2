// A model's own chat template (tokenizer_config.json's `chat_template`),
// rendered with @huggingface/jinja, the engine made for HF chat templates, so
// tools and tool results reach the model exactly as it was trained to see them.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { ValidationError } from "../types/errors.js";
import { validateMessages, type ChatTemplate, type RenderOptions } from "./chat-template.js";
import { parseJsonText } from "../types/json.js";
import { TOOL_CALL_OPEN, type ChatTurn } from "./tools.js";

export interface JinjaTemplateOptions {
  bosToken?: string;
  eosToken?: string;
  /** A second template used when tools are given (HF's named "tool_use" template). */
  toolUse?: string;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const tokenText = (v: unknown): string | undefined =>
  typeof v === "string" ? v : isRec(v) && typeof v.content === "string" ? v.content : undefined;

export class JinjaChatTemplate implements ChatTemplate {
  readonly toolCallSyntax: "hermes" | null;
  private readonly main: Template;
  private readonly toolUse: Template | null;

  constructor(
    readonly source: string,
    private readonly opts: JinjaTemplateOptions = {},
  ) {
    if (typeof source !== "string" || !source)
      throw new ValidationError("JinjaChatTemplate", ["source must be a non-empty template string"]);
    this.main = parse(source, "chat_template");
    this.toolUse = opts.toolUse ? parse(opts.toolUse, "tool_use template") : null;
    const toolSource = opts.toolUse ?? source;
    // Only a template that writes <tool_call> blocks tells the model the syntax the proxy parses back.
    this.toolCallSyntax = /\btools\b/.test(toolSource) && toolSource.includes(TOOL_CALL_OPEN) ? "hermes" : null;
  }

  /** From tokenizer_config.json's contents; null when it holds no chat_template. */
  static fromTokenizerConfig(cfg: unknown): JinjaChatTemplate | null {
    if (!isRec(cfg)) throw new ValidationError("JinjaChatTemplate.fromTokenizerConfig", ["tokenizer config must be an object"]);
    const t = cfg.chat_template;
    const bosToken = tokenText(cfg.bos_token);
    const eosToken = tokenText(cfg.eos_token);
    if (typeof t === "string") return new JinjaChatTemplate(t, { bosToken, eosToken });
    if (Array.isArray(t)) {
      // HF's list form: [{ name: "default", template }, { name: "tool_use", template }]
      const named = new Map(t.filter(isRec).map((e) => [String(e.name), String(e.template)]));
      const main = named.get("default") ?? named.values().next().value;
      if (main === undefined) return null;
      return new JinjaChatTemplate(main, { bosToken, eosToken, toolUse: named.get("tool_use") });
    }
    return null;
  }

  /** Reads `dir/tokenizer_config.json`; null when there is none or it has no chat template. */
  static fromModelDir(dir: string): JinjaChatTemplate | null {
    const path = join(dir, "tokenizer_config.json");
    if (!existsSync(path)) return null;
    let cfg: unknown;
    try {
      cfg = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new ValidationError("JinjaChatTemplate.fromModelDir", [`${path}: ${(e as Error).message}`]);
    }
    return JinjaChatTemplate.fromTokenizerConfig(cfg);
  }

  render(messages: readonly ChatTurn[], opts: RenderOptions = {}): string {
    validateMessages("JinjaChatTemplate.render", messages);
    const tools = opts.tools?.length ? opts.tools : undefined;
    const template = tools && this.toolUse ? this.toolUse : this.main;
    // HF templates read tool-call arguments as objects (vLLM and transformers parse OpenAI's JSON text first).
    const msgs = messages.map((m) => ({
      ...m,
      ...(m.tool_calls
        ? { tool_calls: m.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: parseJsonText(c.function.arguments) } })) }
        : {}),
    }));
    try {
      return template.render({
        messages: msgs,
        tools,
        add_generation_prompt: opts.addGenerationPrompt === true,
        bos_token: this.opts.bosToken ?? "",
        eos_token: this.opts.eosToken ?? "",
      });
    } catch (e) {
      // raise_exception() in a template is how it refuses a conversation (e.g. roles out of order): the caller's input.
      throw new ValidationError("chat template", [(e as Error).message]);
    }
  }
}

function parse(source: string, what: string): Template {
  try {
    return new Template(source);
  } catch (e) {
    throw new ValidationError("JinjaChatTemplate", [`${what} does not parse: ${(e as Error).message}`]);
  }
}

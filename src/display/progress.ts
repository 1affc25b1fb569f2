// Progress bars for long work (rollouts, training steps): updated in place
// through a display id in a notebook, throttled plain-text lines elsewhere.
import { ValidationError } from "../types/errors.js";
import { display, newDisplayId, updateDisplay } from "./display.js";
import { kernelHook } from "./hook.js";
import { DISPLAY, type MimeBundle } from "./protocol.js";

export interface ProgressOptions {
  total: number;
  label?: string;
  /** Minimum milliseconds between two visible updates (the last one always shows). Default 100 in a notebook, 1000 elsewhere. */
  throttleMs?: number;
  /** Where plain-text lines go outside a notebook; default console.log. */
  write?: (line: string) => void;
}

export type ProgressExtras = Record<string, number | string>;

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function formatValue(v: number | string): string {
  if (typeof v === "string") return v;
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

export class Progress {
  readonly total: number;
  readonly label: string;
  private current = 0;
  private extras: ProgressExtras = {};
  private readonly started = Date.now();
  private finished = false;
  private lastShown = 0;
  private readonly displayId: string | undefined;
  private readonly throttleMs: number;
  private readonly write: (line: string) => void;

  constructor(opts: ProgressOptions) {
    if (typeof opts !== "object" || opts === null) throw new ValidationError("progress", ["options must be an object"]);
    if (typeof opts.total !== "number" || !Number.isFinite(opts.total) || opts.total <= 0) {
      throw new ValidationError("progress", ["total must be a positive finite number"]);
    }
    if (opts.label !== undefined && typeof opts.label !== "string") throw new ValidationError("progress", ["label must be a string"]);
    if (opts.throttleMs !== undefined && (typeof opts.throttleMs !== "number" || opts.throttleMs < 0)) {
      throw new ValidationError("progress", ["throttleMs must be a non-negative number"]);
    }
    this.total = opts.total;
    this.label = opts.label ?? "progress";
    this.write = opts.write ?? ((line) => console.log(line));
    const inKernel = kernelHook() !== undefined;
    this.throttleMs = opts.throttleMs ?? (inKernel ? 100 : 1000);
    if (inKernel) {
      this.displayId = newDisplayId("progress");
      display(this, { displayId: this.displayId });
      this.lastShown = Date.now();
    }
  }

  get value(): number {
    return this.current;
  }

  get isDone(): boolean {
    return this.finished;
  }

  /** Sets the count done so far (absolute, not an increment) and optional figures such as reward. */
  update(n: number, extras?: ProgressExtras): this {
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0)
      throw new ValidationError("progress.update", ["n must be a non-negative finite number"]);
    if (extras !== undefined && (typeof extras !== "object" || extras === null))
      throw new ValidationError("progress.update", ["extras must be an object"]);
    this.current = Math.min(n, this.total);
    if (extras) this.extras = { ...this.extras, ...extras };
    if (this.current >= this.total) return this.done();
    if (Date.now() - this.lastShown >= this.throttleMs) this.show();
    return this;
  }

  /** Adds `k` (default 1) to the count. */
  tick(k = 1, extras?: ProgressExtras): this {
    return this.update(this.current + k, extras);
  }

  /** Marks the work finished and shows the final state once. */
  done(extras?: ProgressExtras): this {
    if (this.finished) return this;
    if (extras) this.extras = { ...this.extras, ...extras };
    this.finished = true;
    this.show();
    return this;
  }

  private show(): void {
    this.lastShown = Date.now();
    if (this.displayId !== undefined && kernelHook() !== undefined) updateDisplay(this.displayId, this);
    else this.write(this.text());
  }

  text(): string {
    const frac = this.current / this.total;
    const width = 20;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const extras = Object.entries(this.extras)
      .map(([k, v]) => ` ${k}=${formatValue(v)}`)
      .join("");
    const state = this.finished ? " done" : "";
    return `${this.label} [${bar}] ${formatValue(this.current)}/${formatValue(this.total)} (${Math.round(frac * 100)}%) ${formatDuration(Date.now() - this.started)}${extras}${state}`;
  }

  [DISPLAY](): MimeBundle {
    const pct = Math.round((this.current / this.total) * 100);
    const extras = Object.entries(this.extras)
      .map(([k, v]) => `<span style="margin-left:1em">${escapeHtml(k)}: <b>${escapeHtml(formatValue(v))}</b></span>`)
      .join("");
    const html =
      `<div class="arclight-progress" style="font-family:sans-serif;font-size:13px">` +
      `<span>${escapeHtml(this.label)}</span> ` +
      `<progress value="${this.current}" max="${this.total}" style="width:240px;vertical-align:middle"></progress> ` +
      `<span>${escapeHtml(formatValue(this.current))}/${escapeHtml(formatValue(this.total))} (${pct}%)` +
      ` ${formatDuration(Date.now() - this.started)}${this.finished ? " done" : ""}</span>${extras}</div>`;
    return { "text/html": html, "text/plain": this.text() };
  }
}

/** A progress bar: `const p = agl.progress({ total: 100, label: "rollouts" }); p.update(10, { reward: 0.4 }); p.done();` */
export function progress(opts: ProgressOptions): Progress {
  return new Progress(opts);
}

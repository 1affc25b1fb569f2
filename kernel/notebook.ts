// nbformat 4 notebooks: reading, the output list a cell accumulates from
// iopub messages (streams merged, clear_output, display updates), writing.
import { readFileSync } from "node:fs";
import { ValidationError } from "../src/types/errors.js";

export type Output = Record<string, unknown> & { output_type: string };

export interface Cell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  id?: string;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

export function cellSource(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

export function readNotebook(path: string): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ValidationError(path, [`not a JSON notebook: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const n = nb as Partial<Notebook>;
  const issues: string[] = [];
  if (n.nbformat !== 4) issues.push(`nbformat must be 4, got ${String(n.nbformat)}`);
  if (!Array.isArray(n.cells)) issues.push("cells must be an array");
  else
    n.cells.forEach((c, i) => {
      if (!c || !["code", "markdown", "raw"].includes(c.cell_type)) issues.push(`cell ${i + 1}: bad cell_type`);
      else if (typeof c.source !== "string" && !Array.isArray(c.source)) issues.push(`cell ${i + 1}: source must be a string or list`);
    });
  if (issues.length) throw new ValidationError(path, issues);
  return { nbformat: 4, nbformat_minor: n.nbformat_minor ?? 5, metadata: n.metadata ?? {}, cells: n.cells! };
}

/** Collects one cell's outputs as iopub messages arrive; display ids are tracked across cells. */
export class OutputCollector {
  private outputs: Output[] = [];
  private clearPending = false;
  constructor(private readonly displays: Map<string, Output[]>) {}

  get list(): Output[] {
    return this.outputs;
  }

  private add(out: Output, displayId?: string): void {
    if (this.clearPending) {
      this.outputs = [];
      this.clearPending = false;
    }
    const last = this.outputs[this.outputs.length - 1];
    if (out.output_type === "stream" && last?.output_type === "stream" && last.name === out.name) {
      last.text = String(last.text) + String(out.text);
      return;
    }
    this.outputs.push(out);
    if (displayId !== undefined) {
      const list = this.displays.get(displayId) ?? [];
      list.push(out);
      this.displays.set(displayId, list);
    }
  }

  /** Applies one iopub message (type and content as @jupyterlab/services delivers them). */
  handle(type: string, content: Record<string, unknown>): void {
    const transient = content.transient as { display_id?: string } | undefined;
    switch (type) {
      case "stream":
        this.add({ output_type: "stream", name: content.name, text: content.text });
        break;
      case "display_data":
        this.add({ output_type: "display_data", data: content.data, metadata: content.metadata ?? {} }, transient?.display_id);
        break;
      case "update_display_data":
        for (const out of this.displays.get(transient?.display_id ?? "") ?? []) {
          out.data = content.data;
          out.metadata = content.metadata ?? {};
        }
        break;
      case "execute_result":
        this.add({
          output_type: "execute_result",
          data: content.data,
          metadata: content.metadata ?? {},
          execution_count: content.execution_count,
        });
        break;
      case "error":
        this.add({ output_type: "error", ename: content.ename, evalue: content.evalue, traceback: content.traceback });
        break;
      case "clear_output":
        if (content.wait === true) this.clearPending = true;
        else this.outputs = [];
        break;
      default:
        break;
    }
  }
}

// A self-contained HTML report of an executed notebook: no scripts, no
// network. Charts show through their SVG/PNG forms (a vega-lite-only output
// would be blank offline), markdown cells through a minimal renderer.
import type { RunReport } from "./notebook-runner.js";
import { cellSource, type Notebook, type Output } from "./notebook.js";

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function inline(md: string): string {
  return escapeHtml(md)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\((https?:[^)\s]+|[^)\s:]+)\)/g, '<a href="$2">$1</a>');
}

/** Headings, paragraphs, lists, fenced code, inline code/bold/italic/links. */
export function renderMarkdown(md: string): string {
  const out: string[] = [];
  const lines = md.split("\n");
  let para: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join(" "))}</p>`);
    if (list.length) out.push(`<ul>${list.map((l) => `<li>${inline(l)}</li>`).join("")}</ul>`);
    para = [];
    list = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("```")) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) code.push(lines[i]!);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      out.push(`<h${h[1]!.length}>${inline(h[2]!)}</h${h[1]!.length}>`);
    } else if (/^\s*[-*]\s+/.test(line)) {
      if (para.length) flush();
      list.push(line.replace(/^\s*[-*]\s+/, ""));
    } else if (line.trim() === "") flush();
    else {
      if (list.length) flush();
      para.push(line.trim());
    }
  }
  flush();
  return out.join("\n");
}

function text(v: unknown): string {
  return Array.isArray(v) ? v.join("") : String(v ?? "");
}

function renderData(data: Record<string, unknown>): string {
  if (typeof data["image/svg+xml"] === "string" || Array.isArray(data["image/svg+xml"])) {
    const svg = Buffer.from(text(data["image/svg+xml"])).toString("base64");
    return `<img class="chart" alt="chart" src="data:image/svg+xml;base64,${svg}">`;
  }
  if (typeof data["image/png"] === "string")
    return `<img class="chart" alt="chart" src="data:image/png;base64,${text(data["image/png"]).replace(/\s/g, "")}">`;
  if (data["text/html"] !== undefined) return `<div class="html">${text(data["text/html"])}</div>`;
  if (data["text/markdown"] !== undefined) return `<div class="md">${renderMarkdown(text(data["text/markdown"]))}</div>`;
  if (data["text/plain"] !== undefined) return `<pre>${escapeHtml(text(data["text/plain"]).replace(ANSI, ""))}</pre>`;
  const json = Object.entries(data).find(([k]) => k.endsWith("json"));
  return json ? `<pre>${escapeHtml(JSON.stringify(json[1], null, 2))}</pre>` : "";
}

function renderOutput(o: Output): string {
  switch (o.output_type) {
    case "stream":
      return `<pre class="stream ${o.name === "stderr" ? "stderr" : ""}">${escapeHtml(text(o.text).replace(ANSI, ""))}</pre>`;
    case "error":
      return `<pre class="error">${escapeHtml(((o.traceback as string[] | undefined) ?? [`${String(o.ename)}: ${String(o.evalue)}`]).join("\n").replace(ANSI, ""))}</pre>`;
    default:
      return renderData((o.data as Record<string, unknown> | undefined) ?? {});
  }
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px}
.cell{margin:1.2em 0}.prompt{color:#888;font:12px monospace}.code pre{border-left:3px solid #4a7fd4}
.stderr{background:#fff4e5}.error{background:#fdecea;color:#8b0000}img.chart{max-width:100%}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px}
.meta{font-size:13px;color:#555;border:1px solid #ddd;padding:.5em 1em}`;

export function renderReport(nb: Notebook, report: RunReport, title: string): string {
  const seeds = Object.entries(report.seeds);
  const meta = [
    `<div class="meta"><b>Reproduce</b>: Arclight ${escapeHtml(report.arclightVersion)}`,
    `git commit ${escapeHtml(report.gitCommit ?? "none")}`,
    `Node ${escapeHtml(report.nodeVersion)}`,
    `seeds ${seeds.length ? escapeHtml(seeds.map(([k, v]) => `${k}=${v}`).join(", ")) : "none recorded"}`,
    `run ${escapeHtml(report.date)} (${(report.durationMs / 1000).toFixed(1)} s)</div>`,
  ].join(" &middot; ");
  const cells = nb.cells.map((c) => {
    if (c.cell_type === "markdown") return `<div class="cell md">${renderMarkdown(cellSource(c))}</div>`;
    if (c.cell_type === "raw") return `<div class="cell"><pre>${escapeHtml(cellSource(c))}</pre></div>`;
    const prompt = `<div class="prompt">[${c.execution_count ?? " "}]</div>`;
    const outs = (c.outputs ?? []).map(renderOutput).join("\n");
    return `<div class="cell">${prompt}<div class="code"><pre><code>${escapeHtml(cellSource(c))}</code></pre></div>${outs}</div>`;
  });
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${meta}
${cells.join("\n")}
</body></html>
`;
}

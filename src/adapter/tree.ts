// A rollout attempt's spans as a tree (parent links kept), so LLM calls can
// be selected through the spans frameworks wrap them in: an agent span
// holding several calls, a framework's own call span holding the client's.
import { AGL, type Span } from "../types/index.js";

export interface TraceNode {
  span: Span;
  parent: TraceNode | null;
  children: TraceNode[];
}

/** Attributes that name the agent a span (and the spans under it) belongs to, most specific first. */
export const AGENT_NAME_KEYS = [AGL.attrs.agentName, "gen_ai.agent.name"] as const;

export function spanAgentName(span: Span): string | null {
  for (const k of AGENT_NAME_KEYS) {
    const v = span.attributes[k];
    if (typeof v === "string" && v) return v;
  }
  return null;
}

export class TraceTree {
  readonly nodes: ReadonlyMap<string, TraceNode>;
  /** Spans whose parent is not among the spans (the rollout's top level), in sequence order. */
  readonly roots: readonly TraceNode[];

  constructor(spans: readonly Span[]) {
    const nodes = new Map<string, TraceNode>();
    const ordered = [...spans].sort((a, b) => a.sequenceId - b.sequenceId);
    for (const s of ordered) nodes.set(s.spanId, { span: s, parent: null, children: [] });
    const roots: TraceNode[] = [];
    for (const n of nodes.values()) {
      const p = n.span.parentId ? nodes.get(n.span.parentId) : undefined;
      // A cycle (malformed input) would make ancestor walks loop; its closing edge is dropped.
      if (p && !this.isAncestor(n, p)) {
        n.parent = p;
        p.children.push(n);
      } else roots.push(n);
    }
    this.nodes = nodes;
    this.roots = roots;
  }

  private isAncestor(a: TraceNode, of: TraceNode): boolean {
    for (let x: TraceNode | null = of; x; x = x.parent) if (x === a) return true;
    return false;
  }

  node(spanId: string): TraceNode | undefined {
    return this.nodes.get(spanId);
  }

  /** The node itself, then its parent, up to the root. */
  *lineage(node: TraceNode): Generator<TraceNode> {
    for (let x: TraceNode | null = node; x; x = x.parent) yield x;
  }

  /** Every node below `node` (not itself). */
  *descendants(node: TraceNode): Generator<TraceNode> {
    const stack = [...node.children];
    while (stack.length) {
      const n = stack.pop()!;
      yield n;
      stack.push(...n.children);
    }
  }

  /** Agent names on the way from the span up to the root, nearest first. */
  agentNames(node: TraceNode): string[] {
    const out: string[] = [];
    for (const n of this.lineage(node)) {
      const a = spanAgentName(n.span);
      if (a && !out.includes(a)) out.push(a);
    }
    return out;
  }
}

// Input (and output) history of this kernel session, for history_request.

export interface HistoryEntry {
  session: number;
  line: number;
  input: string;
  output: string | null;
}

type Row = [number, number, string | [string, string | null]];

function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "s");
}

export class History {
  private readonly entries: HistoryEntry[] = [];
  constructor(readonly session = 1) {}

  add(line: number, input: string): HistoryEntry {
    const e: HistoryEntry = { session: this.session, line, input, output: null };
    this.entries.push(e);
    return e;
  }

  /** Answers a history_request's content. */
  query(req: Record<string, unknown>): Row[] {
    const output = req.output === true;
    const row = (e: HistoryEntry): Row => [e.session, e.line, output ? [e.input, e.output] : e.input];
    const n = typeof req.n === "number" && req.n >= 0 ? req.n : undefined;
    switch (req.hist_access_type) {
      case "tail":
        return (n === undefined ? this.entries : this.entries.slice(-n)).map(row);
      case "range": {
        const session = typeof req.session === "number" ? req.session : 0;
        const start = typeof req.start === "number" ? req.start : 0;
        const stop = typeof req.stop === "number" ? req.stop : Number.POSITIVE_INFINITY;
        // session 0 or negative counts back from the current session: there is only this one.
        if (session > 0 && session !== this.session) return [];
        return this.entries.filter((e) => e.line >= start && e.line < stop).map(row);
      }
      case "search": {
        const pattern = globToRegExp(typeof req.pattern === "string" ? req.pattern : "*");
        let hits = this.entries.filter((e) => pattern.test(e.input));
        if (req.unique === true) {
          const seen = new Set<string>();
          hits = hits
            .reverse()
            .filter((e) => (seen.has(e.input) ? false : (seen.add(e.input), true)))
            .reverse();
        }
        return (n === undefined ? hits : hits.slice(-n)).map(row);
      }
      default:
        return [];
    }
  }
}

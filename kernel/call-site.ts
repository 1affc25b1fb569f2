// Finds the call a cursor sits in (`agl.charts.rewardCurve(frame, {|`), so
// Shift-Tab after an open parenthesis shows the callee's signature, as
// IPython does.
export interface CallSite {
  /** The callee expression as written: `agl.charts.rewardCurve`. */
  callee: string;
  /** Offset just inside the callee's last name (quick info there describes the function). */
  calleePos: number;
  /** Which argument the cursor is in (0-based). */
  argIndex: number;
}

const CLOSE: Record<string, string> = { ")": "(", "]": "[", "}": "{" };

export function enclosingCall(code: string, cursor: number): CallSite | undefined {
  let depth = 0;
  let commas = 0;
  for (let i = Math.min(cursor, code.length) - 1; i >= 0; i--) {
    const ch = code[i]!;
    if (ch === "'" || ch === '"' || ch === "`") {
      // Skip back over a string literal.
      const open = code.lastIndexOf(ch, i - 1);
      if (open < 0) return undefined;
      i = open;
      continue;
    }
    if (ch in CLOSE) depth++;
    else if (ch === "(" || ch === "[" || ch === "{") {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (ch !== "(") {
        // Inside an object or array literal argument: keep looking for the call, counting no commas here.
        commas = 0;
        continue;
      }
      const before = code.slice(0, i);
      const m = /([A-Za-z_$][\w$]*(?:\s*\??\.\s*[A-Za-z_$][\w$]*)*)\s*(?:<[^<>()]*>)?\s*$/.exec(before);
      if (!m || /^(if|for|while|switch|catch|function|return|typeof|await)$/.test(m[1]!)) return undefined;
      const callee = m[1]!.replace(/\s+/g, "");
      const calleeEnd = m.index + m[1]!.length;
      return { callee, calleePos: calleeEnd - 1, argIndex: commas };
    } else if (ch === "," && depth === 0) commas++;
    else if (ch === ";" && depth === 0) return undefined;
  }
  return undefined;
}

// Maps lines of the JavaScript a cell runs as back to the TypeScript the user
// wrote. tslab's converter emits no source map and the TypeScript it bundles
// cannot be configured to, so lines are aligned by their shared tokens
// (weighted LCS), which survives removed types, blank lines and rewrites
// like `x` -> `__arclight_cells__1.x`.

const TOKEN = /[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`|[{}()[\];,.=+\-*/<>!?:&|]/g;
const NOISE = new Set([
  "exports",
  "__ck",
  "require",
  "void",
  "0",
  "Object",
  "defineProperty",
  "__esModule",
  "value",
  "true",
  "__importStar",
  "__importDefault",
  "default",
  ";",
  ",",
  "(",
  ")",
  "{",
  "}",
  ".",
]);

function tokens(line: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of line.match(TOKEN) ?? []) {
    if (NOISE.has(t) || /^__arclight_/.test(t)) continue;
    m.set(t, (m.get(t) ?? 0) + 1);
  }
  return m;
}

function similarity(a: Map<string, number>, b: Map<string, number>): number {
  let inter = 0;
  let total = 0;
  for (const [t, n] of a) {
    total += n;
    inter += Math.min(n, b.get(t) ?? 0);
  }
  return total === 0 ? 0 : inter / total;
}

/** For each JS line (0-based), the TS line (0-based) it most likely came from. */
export function alignLines(js: string, ts: string): number[] {
  const jl = js.split("\n").map(tokens);
  const tl = ts.split("\n").map(tokens);
  const n = jl.length;
  const m = tl.length;
  const score: Float64Array[] = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const s = similarity(jl[i - 1]!, tl[j - 1]!);
      score[i]![j] = Math.max(score[i - 1]![j]!, score[i]![j - 1]!, s > 0.3 ? score[i - 1]![j - 1]! + s : 0);
    }
  }
  const match = new Array<number>(n).fill(-1);
  for (let i = n, j = m; i > 0 && j > 0; ) {
    const s = similarity(jl[i - 1]!, tl[j - 1]!);
    if (s > 0.3 && score[i]![j] === score[i - 1]![j - 1]! + s) {
      match[i - 1] = j - 1;
      i--;
      j--;
    } else if (score[i]![j] === score[i - 1]![j]) i--;
    else j--;
  }
  // Lines with no partner (helpers the compiler added) take the nearest matched line before them.
  let last = 0;
  for (let i = 0; i < n; i++) {
    if (match[i]! >= 0) last = match[i]!;
    else match[i] = last;
  }
  return match;
}

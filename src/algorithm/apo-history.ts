// Reading an APO run back from the store: its candidates, critiques, edits,
// scores and finished rounds, from the spans of the algorithm's rollouts
// (one per start or resume of the run). The same rows feed resume, frames
// and the charts.
import type { LightningStore } from "../store/lightning-store.js";
import type { Rollout, Span } from "../types/index.js";
import { rowOf } from "./apo-log.js";

export const APO_SPANS = {
  candidate: "arclight.apo.candidate",
  critique: "arclight.apo.critique",
  edit: "arclight.apo.edit",
  score: "arclight.apo.score",
  round: "arclight.apo.round",
} as const;

export interface ApoCandidateRow {
  runId: string;
  id: string;
  parentId: string | null;
  round: number;
  template: string;
  engine: string;
  resourcesId: string;
  origin: string;
}

export interface ApoCritiqueRow {
  runId: string;
  round: number;
  parentId: string;
  critique: string | null;
  error: string | null;
  rewards: number[];
}

export interface ApoEditRow {
  runId: string;
  round: number;
  parentId: string;
  variant: number;
  candidate: string | null;
  template: string | null;
  rejected: string | null;
}

export interface ApoScoreRow {
  runId: string;
  round: number;
  candidate: string;
  n: number;
  mean: number | null;
  lo: number;
  hi: number;
  eliminatedInRound: number | null;
  /** On the beam, or (reflective mode) on the Pareto front, after this round. */
  inBeam: boolean;
  /** Reward on each task of the Pareto set (round 0 and reflective mode). */
  taskScores?: number[];
}

export interface ApoRoundRow {
  runId: string;
  mode: "beam" | "reflective";
  round: number;
  beam: string[];
  best: string;
  bestTemplate: string;
  bestMean: number;
  bestLo: number;
  bestHi: number;
  bestN: number;
  /** The best prompt took the lead this round by beating the incumbent decisively. */
  separated: boolean;
  /** Rollouts spent by the run up to and including this round. */
  spent: number;
  gradientRollouts: number;
  valRollouts: number;
  /** Version of the run's best-prompt resources after this round. */
  bestVersion: number;
}

export interface ApoRun {
  runId: string;
  /** The algorithm's own rollouts, oldest first (one per start or resume). */
  logRolloutIds: string[];
  candidates: ApoCandidateRow[];
  critiques: ApoCritiqueRow[];
  edits: ApoEditRow[];
  scores: ApoScoreRow[];
  /** Finished rounds in order; a round redone after a resume appears once, as finished last. */
  rounds: ApoRoundRow[];
}

const isApoLog = (r: Rollout) => r.metadata.kind === "algorithm" && r.metadata.algorithm === "apo" && typeof r.metadata.runId === "string";

/** Names of the APO runs in `store`, oldest first. */
export async function apoRunIds(store: LightningStore): Promise<string[]> {
  const logs = (await store.queryRollouts()).filter(isApoLog).sort((a, b) => a.startTime - b.startTime);
  return [...new Set(logs.map((r) => r.metadata.runId as string))];
}

/** The run named `runId` (default: the newest APO run), or null when the store has none. */
export async function readApoRun(store: LightningStore, runId?: string): Promise<ApoRun | null> {
  const logs = (await store.queryRollouts()).filter(isApoLog).sort((a, b) => a.startTime - b.startTime);
  const id = runId ?? (logs.at(-1)?.metadata.runId as string | undefined);
  const mine = logs.filter((r) => r.metadata.runId === id);
  if (!id || !mine.length) return null;
  const spans: Span[] = [];
  for (const r of mine) spans.push(...(await store.querySpans({ rolloutId: r.rolloutId })).sort((a, b) => a.sequenceId - b.sequenceId));
  const rows = (name: string) => spans.filter((s) => s.name === name).map(rowOf);
  const candidates = new Map<string, ApoCandidateRow>();
  for (const c of rows(APO_SPANS.candidate) as unknown as ApoCandidateRow[]) candidates.set(c.id, c);
  // The log that finished each round: its scores are the round's (an interrupted try of it left others).
  const rounds = new Map<number, { row: ApoRoundRow; log: string }>();
  for (const s of spans)
    if (s.name === APO_SPANS.round) rounds.set(rowOf(s).round as number, { row: rowOf(s) as unknown as ApoRoundRow, log: s.rolloutId });
  // A round is only finished when it and every round before it are: resume continues after the first gap.
  const done: ApoRoundRow[] = [];
  for (let k = 0; rounds.has(k); k++) done.push(rounds.get(k)!.row);
  const scores = spans
    .filter(
      (s) =>
        s.name === APO_SPANS.score && rounds.get(rowOf(s).round as number)?.log === s.rolloutId && (rowOf(s).round as number) < done.length,
    )
    .map((s) => rowOf(s) as unknown as ApoScoreRow);
  return {
    runId: id,
    logRolloutIds: mine.map((r) => r.rolloutId),
    candidates: [...candidates.values()],
    critiques: rows(APO_SPANS.critique) as unknown as ApoCritiqueRow[],
    edits: rows(APO_SPANS.edit) as unknown as ApoEditRow[],
    scores,
    rounds: done,
  };
}

/**
 * Repeated runs reduced to one figure per target (the median; for loss and
 * failures the worst run, since one lossy run is not cancelled by clean ones),
 * the ratios of the hub's two faces to the baselines and to each other, and
 * issue 9's goals judged from them.
 */
import { type ScenarioName, TARGETS, type TargetName } from '../options.ts';
import { median, ratio } from '../ratio.ts';
import type { RunResult } from '../run-result.ts';
import { type GoalVerdict, judgeGoals } from './goals.ts';
import { RATIOED } from './metrics.ts';

/** Figures where the worst run counts, not the median. */
const WORST_OF = new Set(['lost', 'lostWhileConnected', 'lostAcrossReconnect', 'duplicates', 'orderViolations', 'offsetViolations', 'connectFailed', 'reconnectFailed', 'notCaughtUp', 'fastLost', 'slowLostCritical']);

export interface TargetSummary {
  readonly target: TargetName;
  readonly runs: number;
  readonly figures: Readonly<Record<string, number | null>>;
}

/**
 * Which targets are divided by which: the native hub against both baselines, the
 * Socket.IO face against the seed's gateway and against the native protocol.
 */
export const RATIO_PAIRS: readonly (readonly [TargetName, TargetName])[] = [
  ['hub', 'socketio'],
  ['hub', 'uws-bare'],
  ['hub-socketio', 'socketio'],
  ['hub-socketio', 'hub'],
];

export interface Comparison {
  readonly scenario: ScenarioName;
  readonly targets: readonly TargetSummary[];
  /** `a/b` for each of RATIO_PAIRS where both targets ran: each ratioed figure divided. */
  readonly ratios: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
  /** Issue 9's goals, when hub-socketio ran beside a baseline (else empty). */
  readonly goals: readonly GoalVerdict[];
}

export function summarizeRuns(runs: readonly RunResult[]): Comparison {
  if (runs.length === 0) throw new Error('nothing to summarize');
  const byTarget = new Map<TargetName, RunResult[]>();
  for (const r of runs) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
  const targets: TargetSummary[] = [...byTarget]
    .sort(([a], [b]) => TARGETS.indexOf(a) - TARGETS.indexOf(b))
    .map(([target, rs]) => ({ target, runs: rs.length, figures: reduceFigures(rs.map((r) => r.headline)) }));
  const figuresOf = new Map(targets.map((t) => [t.target, t.figures]));
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const [a, b] of RATIO_PAIRS) {
    const top = figuresOf.get(a);
    const bottom = figuresOf.get(b);
    if (top === undefined || bottom === undefined) continue;
    const row: Record<string, number | null> = {};
    for (const key of Object.keys(top)) if (RATIOED.has(key)) row[key] = ratio(top[key], bottom[key]);
    ratios[`${a}/${b}`] = row;
  }
  return { scenario: runs[0]!.scenario, targets, ratios, goals: judgeGoals(figuresOf) };
}

/** One figure per key over repeated runs: the median, or the worst for loss and failure counts. */
export function reduceFigures(headlines: readonly Readonly<Record<string, number | null>>[]): Record<string, number | null> {
  const keys = new Set(headlines.flatMap((h) => Object.keys(h)));
  const out: Record<string, number | null> = {};
  for (const key of keys) {
    const values = headlines.map((h) => h[key]);
    if (WORST_OF.has(key)) {
      const xs = values.filter((v): v is number => typeof v === 'number');
      out[key] = xs.length === 0 ? null : Math.max(...xs);
    } else out[key] = median(values);
  }
  return out;
}

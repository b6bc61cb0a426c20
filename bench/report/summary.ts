/**
 * Repeated runs reduced to one figure per target (the median; for loss and
 * failures the worst run, since one lossy run is not cancelled by clean ones),
 * and the ratios of the hub to each baseline.
 */
import { type ScenarioName, TARGETS, type TargetName } from '../options.ts';
import { median, ratio } from '../ratio.ts';
import type { RunResult } from '../run-result.ts';
import { RATIOED } from './metrics.ts';

/** Figures where the worst run counts, not the median. */
const WORST_OF = new Set(['lost', 'lostWhileConnected', 'lostAcrossReconnect', 'duplicates', 'orderViolations', 'offsetViolations', 'connectFailed', 'reconnectFailed', 'notCaughtUp', 'fastLost', 'slowLostCritical']);

export interface TargetSummary {
  readonly target: TargetName;
  readonly runs: number;
  readonly figures: Readonly<Record<string, number | null>>;
}

export interface Comparison {
  readonly scenario: ScenarioName;
  readonly targets: readonly TargetSummary[];
  /** `hub/socketio` and `hub/uws-bare`, each figure divided, when both targets ran. */
  readonly ratios: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
}

export function summarizeRuns(runs: readonly RunResult[]): Comparison {
  if (runs.length === 0) throw new Error('nothing to summarize');
  const byTarget = new Map<TargetName, RunResult[]>();
  for (const r of runs) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
  const targets: TargetSummary[] = [...byTarget]
    .sort(([a], [b]) => TARGETS.indexOf(a) - TARGETS.indexOf(b))
    .map(([target, rs]) => ({ target, runs: rs.length, figures: reduceFigures(rs.map((r) => r.headline)) }));
  const hub = targets.find((t) => t.target === 'hub');
  const ratios: Record<string, Record<string, number | null>> = {};
  if (hub !== undefined) {
    for (const base of targets) {
      if (base.target === 'hub') continue;
      const row: Record<string, number | null> = {};
      for (const key of Object.keys(hub.figures)) if (RATIOED.has(key)) row[key] = ratio(hub.figures[key], base.figures[key]);
      ratios[`hub/${base.target}`] = row;
    }
  }
  return { scenario: runs[0]!.scenario, targets, ratios };
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

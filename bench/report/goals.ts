/**
 * Issue 9's goals for the hub's Socket.IO face, judged from one comparison: each
 * is a ratio of a figure of `hub-socketio` to the same figure of a baseline,
 * against a bound. A goal whose targets or figure the run did not have is
 * reported as not measured, never as met.
 */
import type { TargetName } from '../options.ts';
import { formatRatio, ratio } from '../ratio.ts';
import { formatValue, METRICS } from './metrics.ts';

export interface Goal {
  readonly label: string;
  readonly subject: TargetName;
  readonly base: TargetName;
  /** Headline figures to compare, the first that both targets have (e.g. CPU at a rate both ran, else the run's). */
  readonly figures: readonly string[];
  /** `atLeast`: subject/base ≥ bound; `atMost`: subject/base ≤ bound. */
  readonly sense: 'atLeast' | 'atMost';
  readonly bound: number;
  /** What a run must include to measure it. */
  readonly needs: string;
}

export const ISSUE_9_GOALS: readonly Goal[] = [
  { label: 'deliveries/s at saturation ≥ 5× the Socket.IO baseline', subject: 'hub-socketio', base: 'socketio', figures: ['saturationPerSec'], sense: 'atLeast', bound: 5, needs: 'fanout --ceiling' },
  {
    label: 'the same per server core (1 / server CPU per delivery at saturation)',
    subject: 'hub-socketio',
    base: 'socketio',
    figures: ['perCorePerSec'],
    sense: 'atLeast',
    bound: 5,
    needs: 'fanout --ceiling',
  },
  { label: 'idle memory per connection ≤ ⅓ of the Socket.IO baseline', subject: 'hub-socketio', base: 'socketio', figures: ['rssPerConnectionKB'], sense: 'atMost', bound: 1 / 3, needs: 'any scenario (connections: most clients)' },
  {
    label: 'server CPU per delivery ≤ 1.5× the native hub protocol',
    subject: 'hub-socketio',
    base: 'hub',
    figures: ['startCpuUsPerDelivery', 'serverCpuUsPerDelivery'],
    sense: 'atMost',
    bound: 1.5,
    needs: 'fanout, burst or slow-consumers',
  },
];

export interface GoalVerdict {
  readonly label: string;
  readonly subject: TargetName;
  readonly base: TargetName;
  /** The figure compared, or null when the run had none for both targets. */
  readonly figure: string | null;
  readonly subjectValue: number | null;
  readonly baseValue: number | null;
  readonly ratio: number | null;
  readonly bound: number;
  readonly sense: Goal['sense'];
  /** null: not measured by this run (says what would measure it). */
  readonly met: boolean | null;
  readonly needs: string;
}

/** Verdicts for the goals whose subject ran alongside at least one of the goals' baselines; [] otherwise. */
export function judgeGoals(figuresOf: ReadonlyMap<TargetName, Readonly<Record<string, number | null>>>, goals: readonly Goal[] = ISSUE_9_GOALS): GoalVerdict[] {
  const relevant = goals.filter((g) => figuresOf.has(g.subject));
  if (!relevant.some((g) => figuresOf.has(g.base))) return [];
  return relevant.map((g) => {
    const s = figuresOf.get(g.subject);
    const b = figuresOf.get(g.base);
    const figure = g.figures.find((f) => typeof s?.[f] === 'number' && typeof b?.[f] === 'number') ?? null;
    const subjectValue = figure === null ? null : (s?.[figure] ?? null);
    const baseValue = figure === null ? null : (b?.[figure] ?? null);
    const r = ratio(subjectValue, baseValue);
    const met = r === null ? null : g.sense === 'atLeast' ? r >= g.bound : r <= g.bound;
    return { label: g.label, subject: g.subject, base: g.base, figure, subjectValue, baseValue, ratio: r, bound: g.bound, sense: g.sense, met, needs: g.needs };
  });
}

/** The verdicts as report lines: measured ratio against its bound, both figures, and MET / MISSED / not measured. */
export function formatVerdicts(verdicts: readonly GoalVerdict[]): string {
  if (verdicts.length === 0) return '';
  const lines = ['issue 9 goals (hub-socketio against each baseline):'];
  for (const v of verdicts) {
    const bound = `${v.sense === 'atLeast' ? '≥' : '≤'} ${formatRatio(v.bound)}`;
    if (v.met === null) {
      lines.push(`  ${v.label}: not measured (needs ${v.subject} and ${v.base} in ${v.needs})`);
      continue;
    }
    const m = METRICS[v.figure!] ?? { label: v.figure!, unit: '' };
    const unit = m.unit === '' || m.unit === '/s' ? m.unit : ` ${m.unit}`;
    lines.push(
      `  ${v.label}: ${formatRatio(v.ratio)} (bound ${bound}) — ${m.label}: ${v.subject} ${formatValue(v.subjectValue, m.unit)}${unit}, ${v.base} ${formatValue(v.baseValue, m.unit)}${unit} → ${v.met ? 'MET' : 'MISSED'}`,
    );
  }
  return lines.join('\n');
}

/**
 * The order of the alarm feed: what needs a person first. Open (unacknowledged)
 * before acknowledged, then by severity (critical, high, medium, low, others),
 * then newest first. Pure, no DOM: the tests load it in Node.
 */
import { severityRank } from './labels.ts';

export interface Alarm {
  readonly id: string;
  readonly siteId: string;
  readonly level: string;
  readonly title: string;
  /** `open` or `acknowledged` (cleared alarms leave the feed). */
  status: string;
  /**
   * Offset of the event that raised it in the site log. One log holds every
   * site's events, so offsets order alarms across sites: larger is newer.
   */
  readonly raisedOffset: number;
  /** Offset of its latest event (raised, acknowledged): an older snapshot does not undo it. */
  changedOffset: number;
  /** When it was raised or last changed, ISO 8601, for display. */
  at: string;
}

export function compareAlarms(a: Alarm, b: Alarm): number {
  const open = Number(b.status === 'open') - Number(a.status === 'open');
  if (open !== 0) return open;
  const severity = severityRank(a.level) - severityRank(b.level);
  if (severity !== 0) return severity;
  if (a.raisedOffset !== b.raisedOffset) return b.raisedOffset - a.raisedOffset;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The payload every bench event carries, on every target: which site, its
 * per-site sequence number (loss, duplicate and order checks), when it was sent
 * (end-to-end latency) and which phase of the run produced it (per-phase stats).
 * Kept as the seed's objects are (a plain object per event), with optional padding.
 */

export interface BenchEvent {
  readonly siteId: number;
  /** 1, 2, 3 … per site, across the whole run. */
  readonly seq: number;
  /** monotonicUs() when the producer handed the event over (append, emit or publish). */
  readonly sentAt: number;
  /** Index of the producer phase that sent it. */
  readonly phase: number;
  /** Filler so an event has a realistic size. */
  readonly pad?: string;
}

/** The seed events the bench sends: a normal-class update, and an alarm (critical class) every Nth. */
export type BenchEventName = 'task:update' | 'alarm:new';

/** With alarmEvery = N > 0, every Nth sequence number of a site is an alarm; 0 means no alarms. */
export function eventNameFor(seq: number, alarmEvery: number): BenchEventName {
  return alarmEvery > 0 && seq % alarmEvery === 0 ? 'alarm:new' : 'task:update';
}

/** How many multiples of `every` lie in [from, to]: the alarms among a range of lost sequence numbers. */
export function multiplesIn(from: number, to: number, every: number): number {
  if (every <= 0 || to < from) return 0;
  return Math.floor(to / every) - Math.floor((from - 1) / every);
}

const PADS = new Map<number, string>();

export function benchEvent(siteId: number, seq: number, sentAt: number, phase: number, padBytes: number): BenchEvent {
  if (padBytes <= 0) return { siteId, seq, sentAt, phase };
  let pad = PADS.get(padBytes);
  if (pad === undefined) PADS.set(padBytes, (pad = 'x'.repeat(padBytes)));
  return { siteId, seq, sentAt, phase, pad };
}

/**
 * Loss, duplicate and order checks for one client's stream of one site. Events
 * carry a per-site sequence number (1, 2, 3 …); the check keeps only the next
 * expected number and the open gaps, so it costs a few field loads per event and
 * no memory while delivery is in order.
 */
import { multiplesIn } from './bench-event.ts';

/** What one client saw, after the producer said how far each site went. */
export interface SequenceTotals {
  /** Distinct sequence numbers received. */
  readonly received: number;
  /** Sequence numbers produced for the site and never received. */
  readonly lost: number;
  /** Of `lost`, those in a gap that opened across a reconnect: what a resume must heal. */
  readonly lostAcrossReconnect: number;
  /** Of `lost`, the alarms (critical class). */
  readonly lostCritical: number;
  /** A sequence number received again. */
  readonly duplicates: number;
  /** A sequence number received after a higher one (it filled a gap late). */
  readonly orderViolations: number;
  /** An offset not above the previous one (hub and uws-bare frames carry offsets). */
  readonly offsetViolations: number;
}

export const ZERO_TOTALS: SequenceTotals = Object.freeze({ received: 0, lost: 0, lostAcrossReconnect: 0, lostCritical: 0, duplicates: 0, orderViolations: 0, offsetViolations: 0 });

export function addTotals(a: SequenceTotals, b: SequenceTotals): SequenceTotals {
  return {
    received: a.received + b.received,
    lost: a.lost + b.lost,
    lostAcrossReconnect: a.lostAcrossReconnect + b.lostAcrossReconnect,
    lostCritical: a.lostCritical + b.lostCritical,
    duplicates: a.duplicates + b.duplicates,
    orderViolations: a.orderViolations + b.orderViolations,
    offsetViolations: a.offsetViolations + b.offsetViolations,
  };
}

/** How accept() judged a sequence number. */
export const Verdict = { InOrder: 0, Gap: 1, Late: 2, Duplicate: 3 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

interface Gap {
  from: number;
  to: number;
  readonly acrossReconnect: boolean;
}

/** Beyond this many open gaps a client is losing nearly everything; older gaps are then closed as lost. */
const MAX_GAPS = 4096;

/**
 * @example
 * const check = new SequenceCheck();
 * for (const seq of [1, 2, 4, 3, 3]) check.accept(seq);
 * check.finish(5, 0); // { received: 4, lost: 1, orderViolations: 1, duplicates: 1, … }
 */
export class SequenceCheck {
  #next = 1;
  readonly #gaps: Gap[] = [];
  #closedLost = 0;
  #closedLostAcrossReconnect = 0;
  #lastOffset = 0;
  #afterReconnect = false;
  #received = 0;
  #duplicates = 0;
  #orderViolations = 0;
  #offsetViolations = 0;

  accept(seq: number): Verdict {
    if (seq === this.#next) {
      this.#next++;
      this.#received++;
      this.#afterReconnect = false;
      return Verdict.InOrder;
    }
    if (seq > this.#next) {
      this.#openGap(this.#next, seq - 1);
      this.#next = seq + 1;
      this.#received++;
      return Verdict.Gap;
    }
    // Below the next expected: it either fills an open gap (late) or was seen already.
    for (let i = this.#gaps.length - 1; i >= 0; i--) {
      const g = this.#gaps[i]!;
      if (seq > g.to) break;
      if (seq < g.from) continue;
      if (g.from === g.to) this.#gaps.splice(i, 1);
      else if (seq === g.from) g.from++;
      else if (seq === g.to) g.to--;
      else {
        this.#gaps.splice(i + 1, 0, { from: seq + 1, to: g.to, acrossReconnect: g.acrossReconnect });
        g.to = seq - 1;
      }
      this.#received++;
      this.#orderViolations++;
      return Verdict.Late;
    }
    this.#duplicates++;
    return Verdict.Duplicate;
  }

  /** Checks that offsets only go up (each frame's offset in its log). */
  acceptOffset(offset: number): void {
    if (offset <= this.#lastOffset) this.#offsetViolations++;
    else this.#lastOffset = offset;
  }

  /** The client reconnected: a gap opened before the next event arrives is what the outage cost. */
  markReconnect(): void {
    this.#afterReconnect = true;
  }

  /** The highest offset seen: what a resume asks to continue after. */
  get lastOffset(): number {
    return this.#lastOffset;
  }

  /** The highest sequence number seen. */
  get lastSeq(): number {
    return this.#next - 1;
  }

  /** Gaps not (yet) filled. */
  get openGaps(): number {
    return this.#gaps.length;
  }

  /**
   * Totals once the producer has said the site's last sequence number. `excluded`
   * lists sequence numbers the producer failed to append (never stored, so not lost).
   */
  finish(lastSeq: number, alarmEvery: number, excluded: readonly number[] = []): SequenceTotals {
    const gaps = this.#gaps.map((g) => ({ ...g }));
    if (lastSeq >= this.#next) gaps.push({ from: this.#next, to: lastSeq, acrossReconnect: this.#afterReconnect });
    let lost = this.#closedLost;
    let lostAcrossReconnect = this.#closedLostAcrossReconnect;
    let lostCritical = 0;
    for (const g of gaps) {
      let n = g.to - g.from + 1;
      let critical = multiplesIn(g.from, g.to, alarmEvery);
      for (const x of excluded) {
        if (x >= g.from && x <= g.to) {
          n--;
          if (alarmEvery > 0 && x % alarmEvery === 0) critical--;
        }
      }
      lost += n;
      lostCritical += critical;
      if (g.acrossReconnect) lostAcrossReconnect += n;
    }
    return {
      received: this.#received,
      lost,
      lostAcrossReconnect,
      lostCritical,
      duplicates: this.#duplicates,
      orderViolations: this.#orderViolations,
      offsetViolations: this.#offsetViolations,
    };
  }

  #openGap(from: number, to: number): void {
    if (this.#gaps.length >= MAX_GAPS) {
      const oldest = this.#gaps.shift()!;
      const n = oldest.to - oldest.from + 1;
      this.#closedLost += n;
      if (oldest.acrossReconnect) this.#closedLostAcrossReconnect += n;
    }
    this.#gaps.push({ from, to, acrossReconnect: this.#afterReconnect });
    this.#afterReconnect = false;
  }
}

/**
 * A worker's record of deliveries: per producer phase and client group, a count,
 * the first and last receipt time and a latency histogram. Shared by all the
 * worker's clients, so recording is a map lookup and a histogram increment.
 */
import { createHistogram, encodeHistogram, type Histogram, recordUs } from '../latency-histogram.ts';
import type { PhaseGroupReport } from './worker-protocol.ts';

class Cell {
  count = 0;
  firstUs = Number.POSITIVE_INFINITY;
  lastUs = 0;
  readonly histogram: Histogram = createHistogram();

  constructor(
    readonly phase: number,
    readonly group: number,
  ) {}
}

/** Groups per phase; the key is phase * GROUPS + group. */
const GROUPS = 4;

export class DeliveryStats {
  readonly #cells = new Map<number, Cell>();
  /** Every delivery so far, all phases (for the main thread's drain check). */
  received = 0;

  record(phase: number, group: number, latencyUs: number, receivedAtUs: number): void {
    this.received++;
    const key = phase * GROUPS + group;
    let cell = this.#cells.get(key);
    if (cell === undefined) this.#cells.set(key, (cell = new Cell(phase, group)));
    cell.count++;
    if (receivedAtUs < cell.firstUs) cell.firstUs = receivedAtUs;
    if (receivedAtUs > cell.lastUs) cell.lastUs = receivedAtUs;
    recordUs(cell.histogram, latencyUs);
  }

  /** Reports of the given phases (all phases if none given). */
  report(phases?: readonly number[]): PhaseGroupReport[] {
    const out: PhaseGroupReport[] = [];
    for (const c of this.#cells.values()) {
      if (phases !== undefined && !phases.includes(c.phase)) continue;
      out.push({ phase: c.phase, group: c.group, count: c.count, firstUs: c.firstUs, lastUs: c.lastUs, histogram: encodeHistogram(c.histogram) });
    }
    return out;
  }
}

export { GROUPS };

/**
 * The producer every target shares: sends R events a second round-robin over the
 * sites, each with the site's next sequence number and its send time, in small
 * batches per timer tick. Rate is kept against elapsed time, so a late tick sends
 * more rather than drifting. An emitter that waits for acknowledgements (a
 * JetStream append) is bounded in flight; when that bound holds it back, the
 * achieved rate (reported) falls below the target.
 */
import { type BenchEvent, benchEvent, type BenchEventName, eventNameFor } from '../bench-event.ts';
import { monotonicUs } from '../clock.ts';
import type { PhaseProduced, ProducePlan, ProduceReport } from './produce-plan.ts';

export interface Emitter {
  /** Sends one event; returns a promise when the send is acknowledged later (and may fail). */
  emit(name: BenchEventName, event: BenchEvent): Promise<unknown> | void;
  /** After each tick's batch (e.g. to flush corked writes). */
  endTick?(): void;
}

/** Unacknowledged appends allowed at once: enough to keep JetStream busy, few enough to bound memory. */
const MAX_IN_FLIGHT = 4096;
/** Most events one tick sends: a late tick catches up over several ticks, not in one long stall. */
const MAX_PER_TICK = 2000;
/** How long to wait for the last acknowledgements of a plan. */
const SETTLE_MS = 15_000;

export class Producer {
  readonly #emitter: Emitter;
  /** Sequence numbers continue across plans, so one run's sites count 1, 2, 3 … throughout. */
  #seqs: number[] = [];
  #nextSite = 0;
  #inFlight = 0;

  constructor(emitter: Emitter) {
    this.#emitter = emitter;
  }

  async run(plan: ProducePlan): Promise<ProduceReport> {
    while (this.#seqs.length < plan.sites) this.#seqs.push(0);
    const failedBySite: Record<number, number[]> = {};
    const errors: string[] = [];
    let failures = 0;
    const onFailure = (site: number, seq: number) => (e: Error) => {
      this.#inFlight--;
      failures++;
      (failedBySite[site] ??= []).push(seq);
      if (errors.length < 5) errors.push(e.message);
    };
    const onAck = () => {
      this.#inFlight--;
    };
    const phases: PhaseProduced[] = [];
    for (const p of plan.phases) {
      const start = monotonicUs();
      const end = start + p.durationMs * 1000;
      let produced = 0;
      for (;;) {
        const now = monotonicUs();
        if (now >= end) break;
        const due = Math.floor((p.rate * (now - start)) / 1e6) - produced;
        const n = Math.min(due, MAX_PER_TICK, MAX_IN_FLIGHT - this.#inFlight);
        for (let i = 0; i < n; i++) {
          const site = this.#nextSite;
          this.#nextSite = site + 1 === plan.sites ? 0 : site + 1;
          const seq = ++this.#seqs[site]!;
          const result = this.#emitter.emit(eventNameFor(seq, plan.alarmEvery), benchEvent(site, seq, monotonicUs(), p.phase, plan.payloadBytes));
          if (result !== undefined) {
            this.#inFlight++;
            result.then(onAck, onFailure(site, seq));
          }
        }
        if (n > 0) {
          produced += n;
          this.#emitter.endTick?.();
        }
        // Behind schedule: yield to I/O and continue at once; on schedule (or held back by
        // unacknowledged appends): sleep a millisecond.
        await new Promise((r) => (due > n && n > 0 ? setImmediate(r) : setTimeout(r, plan.tickMs)));
      }
      phases.push({ phase: p.phase, targetRate: p.rate, produced, startUs: start, endUs: monotonicUs(), lastSeqBySite: this.#seqs.slice(0, plan.sites) });
    }
    const settleBy = Date.now() + SETTLE_MS;
    while (this.#inFlight > 0 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 5));
    return { phases, failedBySite, failures, errors };
  }
}

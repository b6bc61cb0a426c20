/**
 * Reads a stream from its start for a rebuild: an ephemeral consumer (AckPolicy
 * All, bounded `max_ack_pending`) consumed in batches, so NATS delivers the next
 * events while Postgres folds the current ones, and never runs more than a few
 * batches ahead. Events come out up to a moving target (the live checkpoint);
 * those received beyond it wait in memory (at most a batch or so).
 */
import { AckPolicy, DeliverPolicy, jetstream, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { ConsumerBatches } from './consumer-batches.ts';
import { deliveryOf, type LogEvent, logEventOf } from './log-event.ts';

/** How long to wait for an event the target says exists, once the stream looked drained. */
const DRAINED_WAIT_MS = 2000;

export class StreamReplay {
  readonly #ns: string;
  readonly #batches: ConsumerBatches;
  readonly #max: number;
  readonly #drop: () => Promise<void>;
  #held: LogEvent[] = [];
  #last: JsMsg | undefined;
  #lastSeq = 0;
  #drained = false;

  private constructor(ns: string, batches: ConsumerBatches, max: number, drop: () => Promise<void>) {
    this.#ns = ns;
    this.#batches = batches;
    this.#max = max;
    this.#drop = drop;
  }

  static async open(nc: NatsConnection, ns: string, stream: string, filter: string, max: number): Promise<StreamReplay> {
    const js = jetstream(nc);
    const jsm = await js.jetstreamManager();
    const name = `${ns}_replay_${Math.random().toString(36).slice(2, 10)}`;
    // Ephemeral: the server removes it if this process dies mid-replay.
    await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.All, max_ack_pending: max * 2, deliver_policy: DeliverPolicy.All, filter_subject: filter, inactive_threshold: nanos(60_000) });
    const batches = await ConsumerBatches.open(await js.consumers.get(stream, name), { max_messages: max }, max);
    return new StreamReplay(ns, batches, max, async () => {
      await jsm.consumers.delete(stream, name).catch(() => {});
    });
  }

  /** Up to `max` events at or below `target`, in order; empty when there are none to come. */
  async take(target: number): Promise<LogEvent[]> {
    while (this.#lastSeq < target && this.#countUpTo(target) < this.#max) {
      const batch = await this.#batches.next(this.#drained ? DRAINED_WAIT_MS : Number.POSITIVE_INFINITY);
      if (batch === undefined) throw new Error('the replay consumer stopped');
      if (batch.length === 0) break;
      for (const m of batch) {
        const d = deliveryOf(m);
        this.#held.push(logEventOf(this.#ns, m, d));
        this.#lastSeq = d.seq;
        this.#drained = d.pending === 0;
      }
      this.#last = batch.at(-1);
    }
    let n = 0;
    while (n < this.#held.length && n < this.#max && this.#held[n]!.seq <= target) n++;
    return this.#held.splice(0, n);
  }

  /** Acknowledges everything received, letting the server send further. */
  ack(): void {
    this.#last?.ack();
  }

  async close(): Promise<void> {
    await this.#batches.close();
    await this.#drop();
  }

  #countUpTo(target: number): number {
    let n = 0;
    while (n < this.#held.length && this.#held[n]!.seq <= target) n++;
    return n;
  }
}

/**
 * Reads a stream from its start through an ordered consumer, a page ahead of its
 * caller: while a batch is folding in Postgres, the next page is on its way from
 * NATS. Memory stays bounded to about two pages.
 */
import type { Consumer } from '@nats-io/jetstream';
import { type LogEvent, logEventOf } from './log-event.ts';

export class LogReader {
  readonly #consumer: Consumer;
  readonly #ns: string;
  readonly #page: number;
  #buffer: LogEvent[] = [];
  #filling: Promise<void> | undefined;
  /** Messages the stream held beyond the last one received, when it was sent. */
  #remaining = Number.POSITIVE_INFINITY;
  /** The last sequence received. */
  #lastSeq = 0;

  constructor(consumer: Consumer, ns: string, page: number) {
    this.#consumer = consumer;
    this.#ns = ns;
    this.#page = page;
  }

  /**
   * Up to `max` events at or below `maxSeq`, in order; waits for NATS only when none
   * is buffered. An empty answer means the stream has nothing more at or below `maxSeq` now.
   */
  async take(maxSeq: number, max: number): Promise<LogEvent[]> {
    if (!this.#hasUpTo(maxSeq) && this.#lastSeq < maxSeq) {
      await this.#fill(this.#remaining === 0 ? 1000 : 5000, maxSeq);
      if (!this.#hasUpTo(maxSeq)) return [];
    }
    let n = 0;
    while (n < this.#buffer.length && n < max && this.#buffer[n]!.seq <= maxSeq) n++;
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    // Read ahead while the caller folds what it got.
    if (this.#buffer.length < this.#page && this.#remaining > 0) void this.#fill(5000, Number.POSITIVE_INFINITY).catch(() => {});
    return out;
  }

  #hasUpTo(maxSeq: number): boolean {
    const first = this.#buffer[0];
    return first !== undefined && first.seq <= maxSeq;
  }

  /** Fetches a page; stops early at the stream's end or once past `until` (a fetch otherwise waits out `expiresMs`). */
  #fill(expiresMs: number, until: number): Promise<void> {
    this.#filling ??= (async () => {
      try {
        const messages = await this.#consumer.fetch({ max_messages: this.#page, expires: expiresMs });
        for await (const m of messages) {
          this.#buffer.push(logEventOf(this.#ns, m));
          this.#lastSeq = m.seq;
          this.#remaining = m.info.pending;
          if (this.#remaining === 0 || m.seq >= until) break;
        }
      } finally {
        this.#filling = undefined;
      }
    })();
    return this.#filling;
  }
}

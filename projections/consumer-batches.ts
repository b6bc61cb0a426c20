/**
 * Batches from a pull consumer: whatever has arrived, up to `max`, never waiting
 * for more once one message is there. Messages land in a queue from the consumer's
 * callback (nats.js hands over a whole socket read synchronously), so reading from
 * NATS goes on while the caller folds a batch in Postgres. The consumer's
 * `max_ack_pending` bounds the queue: the server sends no further until the
 * caller acks what it applied.
 * (A callback rather than the async iterator: no promise per message, and nats.js
 * 3.4's `getPending()` over-counts after an internal pull, so it cannot end a batch.)
 */
import type { Consumer, ConsumeOptions, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export class ConsumerBatches {
  readonly messages: ConsumerMessages;
  readonly #max: number;
  #queue: JsMsg[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #closed = false;

  private constructor(messages: ConsumerMessages, max: number, received: JsMsg[]) {
    this.messages = messages;
    this.#max = max;
    this.#queue = received;
    void messages.closed().then(
      () => this.#end(),
      () => this.#end(),
    );
  }

  static async open(consumer: Consumer, options: Omit<ConsumeOptions, 'callback'>, max: number): Promise<ConsumerBatches> {
    let self: ConsumerBatches | undefined;
    const early: JsMsg[] = [];
    const messages = await consumer.consume({
      ...options,
      callback: (m) => {
        if (self === undefined) early.push(m);
        else self.#push(m);
      },
    });
    self = new ConsumerBatches(messages, max, early);
    return self;
  }

  /**
   * The next batch: at least one message, or empty if none came within `waitMs`;
   * undefined once the consumer has stopped and everything received was taken.
   */
  async next(waitMs = Number.POSITIVE_INFINITY): Promise<JsMsg[] | undefined> {
    if (this.#available() === 0) {
      if (this.#closed) return undefined;
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(waitMs) ? setTimeout(resolve, waitMs) : undefined;
        this.#wake = () => {
          this.#wake = undefined;
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      if (this.#available() === 0) return this.#closed ? undefined : [];
    }
    const end = Math.min(this.#queue.length, this.#head + this.#max);
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    return batch;
  }

  async close(): Promise<void> {
    await this.messages.close().catch(() => {});
    this.#end();
  }

  #available(): number {
    return this.#queue.length - this.#head;
  }

  #push(m: JsMsg): void {
    this.#queue.push(m);
    this.#wake?.();
  }

  #end(): void {
    this.#closed = true;
    this.#wake?.();
  }
}

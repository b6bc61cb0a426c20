/**
 * The live tail of one JetStream log (JetStreamLog.tail): an ordered JetStream consumer that starts right after
 * the last offset the hub handed on, and is replaced, from that offset again, when
 * it stops showing signs of life.
 *
 * Why a watchdog of our own: an ordered consumer is an R1 ephemeral consumer, placed
 * on one node (on nats-server 2.9, the stream leader's). When that node dies, nats.js
 * 3.4 asks for the consumer's info until it answers; a consumer whose only replica is
 * gone does not answer until the node is back, so live delivery stalled for as long as
 * the node stayed down (seen in test/cluster.test.ts). Here, no message and no
 * heartbeat for a few heartbeat intervals means: drop that consumer, make a new one.
 * Starting it at `next()` (the window's last offset + 1) and dropping what an old
 * consumer still hands over keeps the feed gapless and duplicate-free.
 * Not replaced on every reconnect: a consumer on a surviving node carries on by
 * itself, and creating one needs the meta leader, often electing right then
 * (tried in test/cluster.test.ts: no faster, more churn).
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { LogTail } from './event-log.ts';
import type { Logger } from './logger.ts';

export interface LiveFeedOptions {
  /** Pull expiry; the server sends an idle heartbeat every half of it while nothing flows. */
  readonly expiresMs?: number;
  /** Watchdog ticks (one per `expiresMs / 2`) without a message or heartbeat before the consumer is replaced. */
  readonly stallTicks?: number;
}

export class LiveFeed implements LogTail {
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #next: () => number;
  readonly #onMessage: (m: JsMsg) => void;
  readonly #log: Logger;
  readonly #expiresMs: number;
  readonly #stallTicks: number;
  /** The consumer now feeding; messages of any other (an old one still draining) are dropped. */
  #current: { close(): Promise<void | Error> } | undefined;
  /** Messages and heartbeats seen: the watchdog only compares it with its last look. */
  #signs = 0;
  #seen = 0;
  #quietTicks = 0;
  #replacing = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Consumers replaced since start, for tests and logs. */
  replaced = 0;

  get reopened(): number {
    return this.replaced;
  }

  /** `next()`: the first offset the feed should deliver now; `onMessage` gets each message once, in order. */
  constructor(js: JetStreamClient, stream: string, next: () => number, onMessage: (m: JsMsg) => void, log: Logger, options: LiveFeedOptions = {}) {
    this.#js = js;
    this.#stream = stream;
    this.#next = next;
    this.#onMessage = onMessage;
    this.#log = log;
    this.#expiresMs = options.expiresMs ?? 2000;
    this.#stallTicks = options.stallTicks ?? 3;
  }

  /** Opens the first consumer (failing if it cannot), then keeps one open until `stop()`. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#open();
        break;
      } catch (e) {
        // A busy server may miss the client's short request timeout: a few tries before the start fails.
        if (attempt === 5 || this.#stopped) throw e;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
    this.#timer = setInterval(() => this.#watch(), this.#expiresMs / 2);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    const current = this.#current;
    this.#current = undefined;
    await current?.close().catch(() => {});
  }

  async #open(): Promise<void> {
    // Only a live stream leader answers this. On nats-server 2.9 an ephemeral consumer is placed on
    // the stream's leader: created while the cluster still names a dead one, it would sit there silent.
    await this.#js.streams.get(this.#stream);
    const from = this.#next();
    const consumer = await this.#js.consumers.get(this.#stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    // The handle exists before any message can arrive; its close is filled in once consuming started.
    const handle = { close: (): Promise<void | Error> => Promise.resolve() };
    const messages = await consumer.consume({
      max_messages: 1024,
      // Short pull expiry: heartbeats every second, so a dead consumer shows within a few seconds.
      expires: this.#expiresMs,
      callback: (m) => {
        if (this.#current !== handle) return;
        this.#signs++;
        this.#onMessage(m);
      },
    });
    handle.close = () => messages.close();
    if (this.#stopped) {
      await messages.close().catch(() => {});
      return;
    }
    this.#current = handle;
    this.#quietTicks = 0;
    void (async () => {
      for await (const s of messages.status()) {
        if (this.#current !== handle) break;
        // Anything the server sent is a sign of life; what the client says to itself is not.
        if (s.type === 'heartbeat' || s.type === 'debug' || s.type === 'discard' || s.type === 'ordered_consumer_recreated') this.#signs++;
      }
    })().catch(() => {});
    // A consumer nats.js gave up on is replaced at once rather than at the next watchdog look.
    void messages.closed().then(
      () => this.#lost(handle, 'the live consumer stopped'),
      (e: Error) => this.#lost(handle, `the live consumer failed: ${e.message}`),
    );
  }

  #watch(): void {
    if (this.#replacing || this.#stopped) return;
    if (this.#signs !== this.#seen) {
      this.#seen = this.#signs;
      this.#quietTicks = 0;
      return;
    }
    if (++this.#quietTicks >= this.#stallTicks) void this.#replace(`no message or heartbeat for ${(this.#quietTicks * this.#expiresMs) / 2} ms (its NATS node gone?)`);
  }

  #lost(handle: object, reason: string): void {
    if (this.#current === handle && !this.#stopped) void this.#replace(reason);
  }

  async #replace(reason: string): Promise<void> {
    if (this.#replacing || this.#stopped) return;
    this.#replacing = true;
    const old = this.#current;
    this.#current = undefined;
    // Not awaited: closing a consumer on a dead node waits for nothing useful.
    void old?.close().catch(() => {});
    this.#log.warn({ stream: this.#stream, from: this.#next(), reason }, 'live consumer replaced');
    try {
      for (let attempt = 1; !this.#stopped; attempt++) {
        try {
          await this.#open();
          this.replaced++;
          this.#log.info({ stream: this.#stream, from: this.#next(), attempts: attempt }, 'live delivery resumed on a new consumer');
          return;
        } catch (e) {
          // While the stream elects a leader (a few seconds on a cluster) creating a consumer fails: retry.
          const delay = Math.min(250 * 2 ** (attempt - 1), 2000);
          if (attempt === 1 || attempt % 10 === 0) this.#log.warn({ stream: this.#stream, attempt, retryInMs: delay, err: (e as Error).message }, 'cannot create the live consumer yet; retrying');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.#replacing = false;
      this.#seen = this.#signs;
      this.#quietTicks = 0;
    }
  }
}

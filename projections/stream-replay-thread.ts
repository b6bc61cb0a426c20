/**
 * The reader thread of replays (see stream-replay.ts), kept for reuse: starting
 * one costs a few hundred ms of module loading, so a process starts it once and
 * runs one replay on it at a time. Each replay has a NATS connection of its own
 * that reads the stream through an ephemeral pull consumer and hands the events
 * over in packed chunks (event-chunk.ts), so parsing NATS messages, the larger
 * part of a replay's client-side work, runs beside the fold instead of before it.
 * Deliveries come off a plain socket of the replay's own (delivery-socket.ts: a
 * fifth of nats.js's CPU per message), or through nats.js where that cannot be
 * (TLS, nkeys); the consumer is managed through nats.js either way.
 *
 * - Flow control by credit: the thread asks the server (pull requests of `pull`
 *   messages) for no more events than the folding thread has released room for,
 *   so at most `credit` events are in flight or waiting, whatever the stream's length.
 * - AckPolicy None: the server keeps no per-message ack state (AckAll's bookkeeping
 *   cost nats-server about a third more CPU per message here) and the thread sends
 *   no acks. What replaces them: the consumer's own sequence has no gaps, so a
 *   message lost to a broken connection is noticed and the replay fails (a rebuild
 *   is simply run again) rather than folding a view with a hole.
 */
import { parentPort } from 'node:worker_threads';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, nanos, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { parseAckSubject } from './ack-subject.ts';
import { type DeliveryHandler, DeliverySocket } from './delivery-socket.ts';
import { type EventChunk, EventChunkWriter } from './event-chunk.ts';

export interface ReplayThreadOptions {
  readonly servers: string[];
  readonly stream: string;
  readonly filter: string;
  /** Read deliveries off a plain socket of the thread's own when the server allows (see delivery-socket.ts); else through nats.js. */
  readonly socket: boolean;
  /** The ephemeral consumer's name. */
  readonly consumer: string;
  /** Most events requested from the server and not yet released by the folding thread. */
  readonly credit: number;
  /** Events per pull request. */
  readonly pull: number;
  /** Most events per chunk (a chunk also goes as soon as a socket read has been parsed). */
  readonly chunk: number;
}

/** From the folding thread: start a replay, room for `events` more, or its end. */
export type ToReplayThread = { readonly type: 'open'; readonly options: ReplayThreadOptions } | { readonly type: 'release'; readonly events: number } | { readonly type: 'close' };
export type FromReplayThread =
  | { readonly type: 'ready' }
  | { readonly type: 'chunk'; readonly chunk: EventChunk }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'closed' };

/** An ephemeral consumer outlives a silent client this long (a fold that takes longer than this holds no request open). */
const INACTIVE_MS = 300_000;
/**
 * After this long without a delivery, the thread asks whether its consumer still
 * exists: a deleted consumer (by hand, or by the server) does not answer the pull
 * requests it leaves behind, and the replay would otherwise wait forever.
 */
const SILENCE_CHECK_MS = 2000;

const port = parentPort!;
const post = (message: FromReplayThread, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);

class Replay implements DeliveryHandler {
  readonly #o: ReplayThreadOptions;
  readonly #writer = new EventChunkWriter();
  readonly #inbox = createInbox();
  #nc: NatsConnection | undefined;
  #socket: DeliverySocket | undefined;
  #jsm: JetStreamManager | undefined;
  #credit: number;
  #consumerSeq = 0;
  #pending = 0;
  #flushing = false;
  #done = false;
  #heard = Date.now();
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(options: ReplayThreadOptions) {
    this.#o = options;
    this.#credit = options.credit;
  }

  async open(): Promise<void> {
    const o = this.#o;
    try {
      // No reconnects: pull requests and AckNone deliveries do not survive one; the replay fails instead.
      const nc = await connect({ servers: o.servers, name: `replay-${o.consumer}`, reconnect: false });
      this.#nc = nc;
      this.#jsm = await jetstreamManager(nc);
      await this.#jsm.consumers.add(o.stream, { name: o.consumer, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: o.filter, inactive_threshold: nanos(INACTIVE_MS) });
      try {
        if (!o.socket) throw new Error('nats.js asked for');
        this.#socket = await DeliverySocket.open(o.servers, `replay-${o.consumer}`, this.#inbox, this);
      } catch {
        // TLS, nkeys (DeliverySocketUnsupported), a socket that would not open: nats.js reads the deliveries instead, only slower.
        nc.subscribe(this.#inbox, { callback: (err, m) => (err === null ? this.#receive(m) : this.#fail(err.message)) });
      }
      void nc.closed().then((e) => this.#fail(`the replay's NATS connection closed${e === undefined ? '' : `: ${e.message}`}`));
      if (this.#done) return;
      this.#watchdog = setInterval(() => this.#checkConsumer(), SILENCE_CHECK_MS);
      post({ type: 'ready' });
      this.#pullMore();
    } catch (e) {
      this.#fail((e as Error).message);
    }
  }

  release(events: number): void {
    this.#credit += events;
    this.#pullMore();
  }

  async close(): Promise<void> {
    this.#done = true;
    clearInterval(this.#watchdog);
    this.#socket?.close();
    await this.#jsm?.consumers.delete(this.#o.stream, this.#o.consumer).catch(() => {});
    await this.#nc?.close().catch(() => {});
  }

  /** A delivery read by nats.js (the fallback). */
  #receive(m: Msg): void {
    const delivery = m.reply === undefined ? undefined : parseAckSubject(m.reply);
    if (delivery === undefined) return this.status(`${m.headers?.code ?? '?'} ${m.headers?.description ?? ''}`.trim());
    this.delivery(delivery.seq, delivery.consumerSeq, delivery.ts, delivery.pending, m.subject, m.data, 0, m.data.length);
    this.read();
  }

  // DeliveryHandler: the plain socket's deliveries, and the fallback's through #receive.
  delivery(seq: number, consumerSeq: number, ts: number, pending: number, subject: string, payload: Uint8Array, start: number, end: number): void {
    if (this.#done) return;
    if (consumerSeq !== this.#consumerSeq + 1) return this.#fail(`the replay missed events (consumer sequence ${this.#consumerSeq}, then ${consumerSeq})`);
    this.#consumerSeq = consumerSeq;
    this.#pending = pending;
    this.#writer.add(seq, ts, subject, payload, start, end);
    if (this.#writer.count >= this.#o.chunk) this.#flush();
  }

  /** A status message: none is expected (no heartbeats asked for, requests never expire). */
  status(line: string): void {
    this.#fail(`the replay consumer answered ${line}`);
  }

  /** The end of a socket read (nats.js hands one over synchronously): one chunk per read, or per `chunk` events. */
  read(): void {
    this.#heard = Date.now();
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => this.#flush());
  }

  ended(message: string): void {
    this.#fail(message);
  }

  #flush(): void {
    this.#flushing = false;
    if (this.#writer.count === 0 || this.#done) return;
    const chunk = this.#writer.take(this.#pending);
    post({ type: 'chunk', chunk }, [chunk.meta.buffer as ArrayBuffer, chunk.bytes.buffer as ArrayBuffer]);
  }

  #pullMore(): void {
    const o = this.#o;
    const request = JSON.stringify({ batch: o.pull });
    const subject = `$JS.API.CONSUMER.MSG.NEXT.${o.stream}.${o.consumer}`;
    for (; this.#credit >= o.pull && !this.#done && this.#nc !== undefined; this.#credit -= o.pull) {
      if (this.#socket !== undefined) this.#socket.publish(subject, request);
      else this.#nc.publish(subject, request, { reply: this.#inbox });
    }
  }

  #checkConsumer(): void {
    if (this.#done || Date.now() - this.#heard < SILENCE_CHECK_MS) return;
    this.#jsm?.consumers.info(this.#o.stream, this.#o.consumer).then(
      () => (this.#heard = Date.now()),
      (e: unknown) => {
        if (e instanceof JetStreamApiError && e.status === 404) this.#fail(`its consumer ${this.#o.consumer} was deleted`);
      },
    );
  }

  #fail(message: string): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#watchdog);
    post({ type: 'failed', message });
  }
}

let current: Replay | undefined;
port.on('message', (message: ToReplayThread) => {
  switch (message.type) {
    case 'open':
      current = new Replay(message.options);
      void current.open();
      break;
    case 'release':
      current?.release(message.events);
      break;
    case 'close': {
      const closing = current;
      current = undefined;
      void (closing?.close() ?? Promise.resolve()).then(() => post({ type: 'closed' }));
      break;
    }
  }
});

/**
 * The event log on NATS JetStream: one stream per log, the stream sequence as the offset,
 * the stream's creation time as the epoch (hub/streams.ts makes the streams).
 *
 * Reads go through a filtered ephemeral pull consumer fetched a batch at a time with a
 * callback: nats.js hands a batch over without a promise per message, and the next batch
 * is asked for only once the reader has taken this one, so a reader waiting on a socket's
 * drain holds at most one batch and JetStream sends nothing more meanwhile. The live tail
 * is an ordered consumer with a watchdog (hub/live-feed.ts).
 */
import { AckPolicy, DeliverPolicy, type Consumer, type FetchMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { specForSubject } from '../protocol/catalogue.ts';
import type { Append } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { DERIVED_HEADER, isDerived, markedByMsgId } from '../protocol/log-record.ts';
import { messageHeader } from '../protocol/message-header.ts';
import { parseSubject, type StreamKey, streamName } from '../protocol/subjects.ts';
import { type Appended, type EventLog, type LogTail, LogUnavailable, type RangeReader, ResumeCancelled, type TailHandler } from './event-log.ts';
import { LiveEvent } from './live-event.ts';
import { LiveFeed } from './live-feed.ts';
import type { Logger } from './logger.ts';
import type { Epochs } from './streams.ts';

/** Messages per fetch: what a paused read holds at most. */
const READ_BATCH = 512;
/** Fetch expiry; the server heartbeats every half of it while a fetch waits. */
const READ_EXPIRES_MS = 2000;
/** The server drops a read consumer idle this long (the hub that made it died). */
const READ_INACTIVE_MS = 30_000;
/** A read idle this long (its reader waited on a slow socket) reopens its consumer before the server drops it. */
const READ_IDLE_REOPEN_MS = READ_INACTIVE_MS / 2;
/** Fetches in a row that bring nothing although the range is not done: the consumer is gone with its node. */
const READ_EMPTY_FETCHES = 3;

export class JetStreamLog implements EventLog {
  readonly #js: JetStreamClient;
  /** The live tail's client: a short request timeout, so a dead stream leader is noticed quickly. */
  readonly #tailJs: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ns: string;
  readonly #epochs: Epochs;
  readonly #log: Logger;

  constructor(js: JetStreamClient, tailJs: JetStreamClient, jsm: JetStreamManager, ns: string, epochs: Epochs, log: Logger) {
    this.#js = js;
    this.#tailJs = tailJs;
    this.#jsm = jsm;
    this.#ns = ns;
    this.#epochs = epochs;
    this.#log = log;
  }

  async append(append: Append, id: string): Promise<Appended> {
    const ack = await appendToLog(this.#js, append, id);
    return { offset: ack.seq, duplicate: ack.duplicate };
  }

  epoch(stream: StreamKey): string {
    return this.#epochs[stream];
  }

  async firstOffset(stream: StreamKey): Promise<number> {
    return (await this.#jsm.streams.info(streamName(this.#ns, stream))).state.first_seq;
  }

  async lastOffset(stream: StreamKey): Promise<number> {
    return (await this.#jsm.streams.info(streamName(this.#ns, stream))).state.last_seq;
  }

  tail(stream: StreamKey, next: () => number, onEvent: TailHandler): LogTail {
    return new LiveFeed(this.#tailJs, streamName(this.#ns, stream), next, (m) => onEvent(m.seq, this.#eventOrSkip(stream, m)), this.#log);
  }

  async read(stream: StreamKey, filter: string, after: number, upTo: number, reader: RangeReader): Promise<void> {
    const name = streamName(this.#ns, stream);
    let opened = await this.#openReader(name, filter, after);
    try {
      // Pending is counted when the consumer is made, after `upTo` was: zero means nothing up to upTo.
      if (opened.pending === 0) return;
      let cursor = after;
      let empty = 0;
      let fetchedAt = Date.now();
      for (;;) {
        if (reader.cancelled()) throw new ResumeCancelled();
        if (Date.now() - fetchedAt > READ_IDLE_REOPEN_MS) {
          // The reader waited long on a slow socket: the server drops a consumer idle for its inactive
          // threshold, so a fresh one continues right after what was handed over.
          this.#dropReader(name, opened.name);
          opened = await this.#openReader(name, filter, cursor);
          if (opened.pending === 0) return;
        }
        const batch = await fetchBatch(opened.consumer, name);
        fetchedAt = Date.now();
        if (batch.length === 0) {
          // A fetch that expired empty while the range is not done: retried a few times, then the log is gone.
          if (++empty >= READ_EMPTY_FETCHES) throw new LogUnavailable(`the replay consumer of ${name} stopped answering (its NATS node gone?)`);
          continue;
        }
        empty = 0;
        for (const m of batch) {
          if (reader.cancelled()) throw new ResumeCancelled();
          if (m.seq > upTo) return;
          const event = this.toEvent(stream, m);
          if (event !== undefined) {
            const room = reader.room?.(event);
            if (room !== undefined) await room;
            if (reader.cancelled()) throw new ResumeCancelled();
            reader.each(event);
          }
          cursor = m.seq;
          if (m.info.pending === 0 || m.seq === upTo) return;
          const paused = reader.pause();
          if (paused !== undefined) await paused;
        }
      }
    } finally {
      this.#dropReader(name, opened.name);
    }
  }

  /** A filtered ephemeral consumer of `name` from offset after + 1, and how many it has to deliver. */
  async #openReader(name: string, filter: string, after: number): Promise<{ name: string; pending: number; consumer: Consumer }> {
    const info = await this.#jsm.consumers.add(name, {
      filter_subject: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      inactive_threshold: nanos(READ_INACTIVE_MS),
    });
    try {
      return { name: info.name, pending: info.num_pending, consumer: await this.#js.consumers.get(name, info.name) };
    } catch (e) {
      this.#dropReader(name, info.name);
      throw e;
    }
  }

  /** Not awaited: deleting a consumer on a dead node waits for nothing useful; the server drops it anyway once idle. */
  #dropReader(stream: string, consumer: string): void {
    void this.#jsm.consumers.delete(stream, consumer).catch((e: Error) => this.#log.debug({ err: e.message }, 'replay consumer cleanup'));
  }

  /** Builds the hub's view of a stored message, or undefined for subjects it does not deliver. */
  toEvent(stream: StreamKey, m: JsMsg): LiveEvent | undefined {
    const parsed = parseSubject(this.#ns, m.subject);
    const spec = parsed === undefined ? undefined : specForSubject(parsed.stream, parsed.tail);
    if (parsed === undefined || spec === undefined) return undefined;
    // Once per event (never per recipient), and only the headers that decide the derived mark, read from
    // the message's header bytes: decoding every header into a Map cost about a tenth of an export's CPU.
    const header = messageHeader(m, DERIVED_HEADER);
    const derived = header !== '' ? header === '1' : markedByMsgId(spec.name) && isDerived(spec.name, header, messageHeader(m, 'Nats-Msg-Id'));
    return new LiveEvent(m.seq, stream, parsed.owner, spec, m.data, Math.floor(m.info.timestampNanos / 1e6), this.#epochs[stream], derived);
  }

  /** One message the hub cannot read must not stop the tail for everyone: skipped, and said so. */
  #eventOrSkip(stream: StreamKey, m: JsMsg): LiveEvent | undefined {
    try {
      return this.toEvent(stream, m);
    } catch (e) {
      this.#log.error({ stream, offset: m.seq, subject: m.subject, err: (e as Error).stack }, 'event skipped: delivery failed');
      return undefined;
    }
  }
}

/**
 * One fetch's messages, collected by callback (nats.js 3.4 takes `callback` on fetch as on consume; its
 * types only name it for consume). A fetch that fails (heartbeats missed: the consumer's node is gone)
 * is LogUnavailable; one that expires brings what came, possibly nothing.
 */
async function fetchBatch(consumer: Consumer, name: string): Promise<JsMsg[]> {
  const batch: JsMsg[] = [];
  const options = { max_messages: READ_BATCH, expires: READ_EXPIRES_MS, callback: (m: JsMsg) => void batch.push(m) };
  try {
    const messages = await consumer.fetch(options as FetchMessages);
    await messages.closed();
  } catch (e) {
    throw new LogUnavailable(`the replay consumer of ${name} failed: ${(e as Error).message}`, { cause: e });
  }
  return batch;
}

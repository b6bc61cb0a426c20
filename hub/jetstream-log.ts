/**
 * The event log on NATS JetStream: one stream per log, the stream sequence as the offset,
 * the stream's creation time as the epoch (hub/streams.ts makes the streams).
 *
 * Reads go through a filtered ephemeral pull consumer consumed with a callback: nats.js
 * hands over a socket read's messages without a promise per message, into a queue the
 * reader takes from at its own pace (it waits on a socket's drain). A reader that falls
 * READ_HOLD messages behind stops the consumer; once it has taken what is held, a new
 * consumer starts right after the last offset it took, so a read holds a bounded number of
 * messages however long the socket waits, and loses or repeats none. The live tail
 * is an ordered consumer with a watchdog (hub/live-feed.ts).
 */
import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { specForSubject } from '../protocol/catalogue.ts';
import type { Append } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { lastMatching } from '../protocol/log-range.ts';
import { DERIVED_HEADER, isDerived, markedByMsgId } from '../protocol/log-record.ts';
import { messageHeader } from '../protocol/message-header.ts';
import { parseSubject, type StreamKey, streamName } from '../protocol/subjects.ts';
import { type Appended, type EventLog, type LogTail, LogUnavailable, type RangeReader, ResumeCancelled, type TailHandler } from './event-log.ts';
import { LiveEvent } from './live-event.ts';
import { LiveFeed } from './live-feed.ts';
import type { Logger } from './logger.ts';
import type { Epochs } from './streams.ts';

/**
 * Messages a read holds for a reader that waits (on a socket's drain): past this, consuming stops and, once the
 * reader has taken them, a fresh consumer continues after the last one. A reader that keeps up never stops it.
 */
const READ_HOLD = 1024;
/** The server drops a read consumer idle this long (the hub that made it died). */
const READ_INACTIVE_MS = 30_000;

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
    // The range ends at its last matching event, asked of the stream (events up to `upTo` are stored already):
    // never on a consumer's pending count, which nats-server 2.9.10 gets wrong (lastMatching says how).
    const end = Math.min(upTo, await lastMatching(this.#jsm, name, filter));
    const range = { stream, name, upTo: end, reader, cursor: after };
    while (range.cursor < end) {
      const opened = await this.#openReader(name, filter, range.cursor);
      try {
        if (await this.#readFrom(opened.consumer, range)) return;
      } finally {
        this.#dropReader(name, opened.name);
      }
      // Stopped while the reader held READ_HOLD messages: a fresh consumer goes on right after what it took.
    }
  }

  /**
   * Hands the range's messages to its reader until its end (true) or until consuming was stopped because the
   * reader fell READ_HOLD messages behind and it took what was held (false); `range.cursor` follows.
   */
  async #readFrom(consumer: Consumer, range: { readonly stream: StreamKey; readonly name: string; readonly upTo: number; readonly reader: RangeReader; cursor: number }): Promise<boolean> {
    const { stream, name, upTo, reader } = range;
    let held: JsMsg[] = [];
    let head = 0;
    let wake: (() => void) | undefined;
    let full = false;
    let ended = false;
    let failure: Error | undefined;
    let lost = false;
    let messages: ConsumerMessages | undefined;
    const stop = () => void messages?.close().catch(() => {});
    messages = await consumer.consume({
      max_messages: 256,
      // Short pulls: the server heartbeats every second while one waits, so a consumer lost with its
      // node shows as missed heartbeats within seconds (nats.js would otherwise wait for it forever).
      expires: 2000,
      callback: (m) => {
        held.push(m);
        if (!full && held.length - head >= READ_HOLD) {
          full = true;
          stop();
        }
        wake?.();
      },
    });
    if (full) stop();
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === 'heartbeats_missed' && s.count >= 3) {
          lost = true;
          stop();
          break;
        }
      }
    })().catch(() => {});
    void messages.closed().then(
      () => {
        ended = true;
        wake?.();
      },
      (e: Error) => {
        ended = true;
        failure = e;
        wake?.();
      },
    );
    try {
      for (;;) {
        while (head < held.length) {
          const m = held[head++]!;
          if (reader.cancelled()) throw new ResumeCancelled();
          if (m.seq > upTo) return true;
          const event = this.toEvent(stream, m);
          if (event !== undefined) {
            const room = reader.room?.(event);
            if (room !== undefined) await room;
            if (reader.cancelled()) throw new ResumeCancelled();
            reader.each(event);
          }
          range.cursor = m.seq;
          if (m.seq >= upTo) return true;
          const paused = reader.pause();
          if (paused !== undefined) await paused;
        }
        held = [];
        head = 0;
        if (ended) {
          if (full && !lost && failure === undefined) return false;
          // Only these exits mean "read up to upTo": consuming that just ends was stopped, and treating that
          // as done would skip the rest of the range.
          if (lost) throw new LogUnavailable(`the replay consumer of ${name} stopped answering (its NATS node gone?)`);
          throw new LogUnavailable(`the replay consumer of ${name} ended before offset ${upTo}${failure === undefined ? '' : `: ${failure.message}`}`, { cause: failure });
        }
        if (reader.cancelled()) throw new ResumeCancelled();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      stop();
    }
  }

  /** A filtered ephemeral consumer of `name` from offset after + 1. */
  async #openReader(name: string, filter: string, after: number): Promise<{ name: string; consumer: Consumer }> {
    const info = await this.#jsm.consumers.add(name, {
      filter_subject: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      inactive_threshold: nanos(READ_INACTIVE_MS),
    });
    try {
      return { name: info.name, consumer: await this.#js.consumers.get(name, info.name) };
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

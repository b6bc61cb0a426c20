/**
 * LogReader: a log's events in offset order, filtered, from an offset, a time or
 * a stored position, for analytics jobs and the hub's exports. Node only.
 *
 * One ordered consumer (nats.js heals a lost message by recreating it at the
 * next offset) read in fetches through a callback: no promise per message. The
 * next fetch goes out only while less than half the byte budget is queued, so a
 * slow caller slows the read instead of filling memory. Every way out (the end,
 * a `break`, `close()`, an error) deletes the consumer.
 */
import { type Consumer, type ConsumerMessages, type FetchOptions, jetstream, JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type EventName, specForSubject } from './catalogue.ts';
import { decodePayload } from './codec.ts';
import { type CheckedRange, checkRange, lastMatching, type LogFrom, type LogPosition, type LogTo, startOffset, type StreamState } from './log-range.ts';
import { DERIVED_HEADER, isDerived, type LogRecord, markedByMsgId } from './log-record.ts';
import { type LogSelection, selectEvents, type SelectionOptions } from './log-selection.ts';
import { messageHeader } from './message-header.ts';
import { LogPositionError, LogReadError, LogSelectionError } from './replay-errors.ts';
import { epochOf } from './stream-epoch.ts';
import { isValidNamespace, parseSubject, streamName, userIdOfToken } from './subjects.ts';

export interface LogReaderOptions extends SelectionOptions {
  /** NATS server URL(s); the reader connects and closes its own connection. */
  readonly servers?: string | string[];
  /** Or an open connection to share (left open by `close()`). */
  readonly connection?: NatsConnection;
  /** The hub's `HUB_NAMESPACE`. Default `plant`. */
  readonly namespace?: string;
  /** An offset (included), an ISO 8601 time or Date (the first event at or after it), or a stored `position` (continues right after it). Default the log's start. */
  readonly from?: LogFrom;
  /** The last offset, or the last time, included. Default: the log's end when the reader opens (with `follow`, no end). */
  readonly to?: LogTo;
  /** After the backlog, keep waiting for new events until `close()`. */
  readonly follow?: boolean;
  /** Stop after this many records. */
  readonly limit?: number;
  /** Bytes of payload the reader may hold ahead of its caller. Default 8 MiB. */
  readonly bufferBytes?: number;
  /** Connection name shown in NATS monitoring. */
  readonly name?: string;
}

const DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024;
/** Payload bytes a record is counted at beyond its payload (offset, subject, object). */
const RECORD_OVERHEAD = 128;
/** A consumer a crashed reader left behind goes after this long without pulls; `close()` deletes it at once. */
const INACTIVE_MS = 60_000;
/** Messages one fetch asks for at most. */
const MAX_FETCH = 20_000;
/** Consecutive failed fetches before the read fails. */
const MAX_FETCH_FAILURES = 5;
/** Subjects whose meaning the reader remembers (a log has one per owner and event kind); past this the memo starts over. */
const MAX_TARGETS = 4096;

/** What the events of one subject become: a record's owner and event, or null for events this read skips. */
interface Target {
  readonly event: EventName;
  readonly site?: string;
  readonly user?: string;
  /** Whether the event can be derived without the `Hub-Derived` header (older projections' msg ids): only then is `Nats-Msg-Id` read. */
  readonly markedById: boolean;
}

/**
 * @example
 * const reader = await LogReader.connect({ servers: 'nats://127.0.0.1:4222', stream: 'site', sites: ['7'], events: ['alarm:new'], from: '2024-05-01T00:00:00Z' });
 * for await (const record of reader) {
 *   console.log(record.offset, record.event, record.data);
 *   if (record.offset > 1000) break; // the reader closes itself
 * }
 * const stored = JSON.stringify(reader.position); // later: LogReader.connect({ …, from: JSON.parse(stored) })
 */
export class LogReader implements AsyncIterable<LogRecord> {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ns: string;
  readonly #state: StreamState;
  readonly #selection: LogSelection;
  readonly #follow: boolean;
  readonly #end: number;
  readonly #toTime: number;
  readonly #limit: number;
  readonly #budget: number;
  #consumer: Consumer | undefined;
  #fetch: ConsumerMessages | undefined;
  #fetching = false;
  #received = 0;
  #receivedBytes = 0;
  #failures = 0;
  /** Bytes a record took in the last fetch: sizes the next one. Unknown at first: a small first fetch, however large the events. */
  #avgBytes: number;
  #queue: LogRecord[] = [];
  #sizes: number[] = [];
  #head = 0;
  #queuedBytes = 0;
  #taken = 0;
  #position: LogPosition;
  /** Nothing more will be read (the end, the limit, an error or close). */
  #finished = false;
  #closing: Promise<void> | undefined;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  /** Subject to target: a message's subject, parsed and looked up once per subject rather than once per message. */
  readonly #targets = new Map<string, Target | null>();

  private constructor(nc: NatsConnection, ownsConnection: boolean, js: JetStreamClient, jsm: JetStreamManager, ns: string, state: StreamState, selection: LogSelection, options: LogReaderOptions, range: CheckedRange, start: number, last: number) {
    this.#nc = nc;
    this.#ownsConnection = ownsConnection;
    this.#js = js;
    this.#jsm = jsm;
    this.#ns = ns;
    this.#state = state;
    this.#selection = selection;
    this.#follow = options.follow === true;
    const toOffset = typeof range.to === 'number' ? range.to : Number.POSITIVE_INFINITY;
    this.#end = this.#follow ? toOffset : Math.min(last, toOffset);
    this.#toTime = range.to instanceof Date ? range.to.getTime() : Number.POSITIVE_INFINITY;
    this.#limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.#budget = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
    this.#avgBytes = this.#budget / 32;
    this.#position = { stream: state.stream, epoch: state.epoch, offset: start - 1 };
  }

  /** Checks the options, connects (unless given a connection), and opens the read. */
  static async connect(options: LogReaderOptions): Promise<LogReader> {
    const ns = options.namespace ?? 'plant';
    if (!isValidNamespace(ns)) throw new LogSelectionError(`namespace ${JSON.stringify(ns)} must match [A-Za-z0-9_-]{1,32}`);
    const selection = selectEvents(ns, options);
    const range = checkRange(options.from, options.to);
    if (options.limit !== undefined && (!Number.isSafeInteger(options.limit) || options.limit < 1)) throw new LogSelectionError(`limit must be a positive integer, not ${options.limit}`);
    if (options.bufferBytes !== undefined && (!Number.isSafeInteger(options.bufferBytes) || options.bufferBytes < 1024)) throw new LogSelectionError('bufferBytes must be an integer of at least 1024');
    if (options.connection === undefined && options.servers === undefined) throw new LogSelectionError('give servers (a NATS URL) or an open connection');
    const nc = options.connection ?? (await connect({ servers: options.servers!, name: options.name ?? 'log-reader' }));
    try {
      const js = jetstream(nc);
      const jsm = await js.jetstreamManager();
      const name = streamName(ns, selection.stream);
      let info;
      try {
        info = await jsm.streams.info(name);
      } catch (e) {
        if (e instanceof JetStreamApiError && e.status === 404) throw new LogReadError(`no stream ${name} on this NATS server: has a hub run with HUB_NAMESPACE=${ns}?`, { cause: e });
        throw e;
      }
      const state: StreamState = { name, stream: selection.stream, epoch: epochOf(info.created), first: info.state.first_seq, last: info.state.last_seq };
      const start = await startOffset(range.from, state, js, jsm);
      // The backlog ends at the last event the filter matches (not past the stream's end when it was looked at):
      // the read stops there rather than wait out a fetch, and never on the server's pending count (lastMatching says why).
      const last = options.follow === true ? state.last : Math.min(state.last, await lastMatching(jsm, name, selection.filter));
      const reader = new LogReader(nc, options.connection === undefined, js, jsm, ns, state, selection, options, range, start, last);
      try {
        await reader.#open(start);
      } catch (e) {
        await reader.close();
        throw e;
      }
      return reader;
    } catch (e) {
      if (options.connection === undefined) await nc.close().catch(() => {});
      throw e;
    }
  }

  /** The stream's epoch: every record carries it. */
  get epoch(): string {
    return this.#state.epoch;
  }

  /** After the last record handed out (before any: right before the first one to read). Store it; pass it as `from` to continue. */
  get position(): LogPosition {
    return this.#position;
  }

  /** Records read from the log and not yet handed out. */
  get buffered(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * The records available now (at least one, at most `max`), waiting for some if
   * none are; undefined once the read is over (the reader has then closed itself).
   */
  async nextBatch(max = 4096): Promise<readonly LogRecord[] | undefined> {
    for (;;) {
      if (this.buffered > 0 && this.#taken < this.#limit) return this.#take(max);
      if (this.#error !== undefined) {
        await this.close();
        throw this.#error;
      }
      if (this.#finished) {
        await this.close();
        return undefined;
      }
      this.#pull();
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  /** The records in batches of what has arrived: fewer awaits than one record at a time. A `break` closes the reader. */
  async *batches(max = 4096): AsyncGenerator<readonly LogRecord[]> {
    try {
      for (let batch = await this.nextBatch(max); batch !== undefined; batch = await this.nextBatch(max)) yield batch;
    } finally {
      await this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<LogRecord> {
    return {
      next: async () => {
        const batch = await this.nextBatch(1);
        return batch === undefined ? { done: true, value: undefined } : { done: false, value: batch[0]! };
      },
      // A `break`: nothing is left behind on the server.
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Stops reading and deletes the consumer; closes the connection if the reader opened it. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#finished = true;
    this.#fetch?.stop();
    this.#wake?.();
    this.#closing = (async () => {
      await this.#consumer?.delete().catch(() => false);
      if (this.#ownsConnection) await this.#nc.close().catch(() => {});
    })();
    return this.#closing;
  }

  async #open(start: number): Promise<void> {
    // Nothing selected from the start on: say so now rather than wait out a fetch.
    if (start > this.#end) {
      this.#finished = true;
      return;
    }
    this.#consumer = await this.#js.consumers.get(this.#state.name, { filter_subjects: this.#selection.filter, opt_start_seq: start, inactive_threshold: INACTIVE_MS });
  }

  #take(max: number): LogRecord[] {
    const n = Math.min(this.buffered, max, this.#limit - this.#taken);
    const out = this.#queue.slice(this.#head, this.#head + n);
    for (let i = this.#head; i < this.#head + n; i++) this.#queuedBytes -= this.#sizes[i]!;
    this.#head += n;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#sizes = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    this.#taken += n;
    this.#position = { stream: this.#state.stream, epoch: this.#state.epoch, offset: out[n - 1]!.offset };
    if (this.#taken >= this.#limit) this.#finish();
    else this.#pull();
    return out;
  }

  /** Asks for the next fetch, unless one is out, the read is over, or the caller has enough queued. */
  #pull(): void {
    if (this.#fetching || this.#finished || this.#consumer === undefined || this.#queuedBytes * 2 > this.#budget) return;
    this.#fetching = true;
    this.#received = 0;
    this.#receivedBytes = 0;
    // One fetch at a time (an ordered consumer takes no concurrent fetches): large ones for small events save round trips,
    // each a pause in the read (20 k rather than 10 k: bench:export reads ~15% faster; the byte budget still bounds it).
    const max = Math.max(8, Math.min(MAX_FETCH, Math.floor(this.#budget / 2 / this.#avgBytes)));
    // Following, a fetch waits for new events; its end (every 10 s when idle) checks the stream is the same.
    // nats.js hands a fetch's messages to `callback` as it does a consume's (one PullConsumerMessagesImpl); only its typings leave it out.
    const options = { max_messages: max, expires: this.#follow ? 10_000 : 5_000, callback: this.#onMessage } as FetchOptions;
    this.#consumer.fetch(options).then(
      (messages) => {
        this.#fetch = messages;
        if (this.#finished) messages.stop();
        void messages.closed().then((err) => this.#fetchEnded(err instanceof Error ? err : undefined));
      },
      (e: Error) => this.#fetchEnded(e),
    );
  }

  /** Each message of a fetch, as nats.js reads it off the socket. */
  readonly #onMessage = (m: JsMsg): void => {
    if (this.#finished) return;
    // `m.data` is a new view each time it is read: once per message.
    const payload = m.data;
    const size = payload.length + RECORD_OVERHEAD;
    this.#received++;
    this.#receivedBytes += size;
    const info = m.info;
    const seq = info.streamSequence;
    if (seq > this.#end) return this.#finish();
    const ts = Math.floor(info.timestampNanos / 1e6);
    if (ts > this.#toTime) return this.#finish();
    let record: LogRecord | undefined;
    try {
      record = this.#record(m, payload, seq, ts);
    } catch (e) {
      this.#error = new LogReadError(`the event at offset ${seq} of ${this.#state.name} cannot be read (${(e as Error).message}); skip it with from=${seq + 1}`, { cause: e });
      return this.#finish();
    }
    if (record !== undefined) {
      this.#queue.push(record);
      this.#sizes.push(size);
      this.#queuedBytes += size;
    }
    if (seq >= this.#end) this.#finish();
    else this.#wake?.();
  };

  #record(m: JsMsg, payload: Uint8Array, seq: number, ts: number): LogRecord | undefined {
    const subject = m.subject;
    let target = this.#targets.get(subject);
    if (target === undefined) {
      target = this.#target(subject);
      if (this.#targets.size >= MAX_TARGETS) this.#targets.clear();
      this.#targets.set(subject, target);
    }
    if (target === null) return undefined;
    // Only the headers that decide `derived` are read, straight from the message's header bytes.
    const header = messageHeader(m, DERIVED_HEADER);
    const derived = header !== '' ? header === '1' : target.markedById && isDerived(target.event, header, messageHeader(m, 'Nats-Msg-Id'));
    const data = payload.length === 0 ? null : decodePayload(payload);
    const epoch = this.#state.epoch;
    const stream = this.#state.stream;
    if (stream === 'site') return { offset: seq, epoch, ts, stream, site: target.site, event: target.event, data, derived };
    if (stream === 'user') return { offset: seq, epoch, ts, stream, user: target.user, event: target.event, data, derived };
    return { offset: seq, epoch, ts, stream, event: target.event, data, derived };
  }

  /** What a subject's events become in this read (null: skipped, as not the hub's or not selected). */
  #target(subject: string): Target | null {
    const parsed = parseSubject(this.#ns, subject);
    if (parsed === undefined || parsed.stream !== this.#state.stream) return null;
    const spec = specForSubject(this.#state.stream, parsed.tail);
    if (spec === undefined) return null;
    const { owners, events } = this.#selection;
    if (owners !== undefined && !owners.has(parsed.owner)) return null;
    if (events !== undefined && !events.has(spec.name)) return null;
    const markedById = markedByMsgId(spec.name);
    if (parsed.stream === 'site') return { event: spec.name, site: parsed.owner, markedById };
    if (parsed.stream === 'user') return { event: spec.name, user: userIdOfToken(parsed.owner), markedById };
    return { event: spec.name, markedById };
  }

  #finish(): void {
    this.#finished = true;
    this.#fetch?.stop();
    this.#wake?.();
  }

  #fetchEnded(err: Error | undefined): void {
    this.#fetching = false;
    this.#fetch = undefined;
    if (this.#finished) return this.#wake?.();
    if (err !== undefined) {
      void this.#recover(err);
      return;
    }
    this.#failures = 0;
    if (this.#received > 0) {
      this.#avgBytes = this.#receivedBytes / this.#received;
      return this.#pull();
    }
    // A fetch that expired empty: the backlog is over (events deleted meanwhile), or, following, a quiet spell.
    if (!this.#follow) return this.#finish();
    void this.#checkStream().then(
      () => this.#pull(),
      (e: Error) => (definitive(e) ? this.#fail(e) : void this.#recover(e)),
    );
  }

  /** A failed fetch: the stream gone or recreated ends the read; anything else is retried a few times. */
  async #recover(err: Error): Promise<void> {
    try {
      await this.#checkStream();
    } catch (e) {
      if (definitive(e as Error)) return this.#fail(e as Error);
    }
    if (this.#finished) return;
    if (++this.#failures > MAX_FETCH_FAILURES) return this.#fail(new LogReadError(`reading ${this.#state.name} failed ${MAX_FETCH_FAILURES} times: ${err.message}`, { cause: err }));
    await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** this.#failures, 2000)));
    this.#pull();
  }

  /** Throws (a definitive error) if the stream was deleted or recreated since the reader opened: its offsets would mean other events. */
  async #checkStream(): Promise<void> {
    let info;
    try {
      info = await this.#jsm.streams.info(this.#state.name);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.status === 404) throw new LogReadError(`stream ${this.#state.name} was deleted while reading`, { cause: e });
      throw e;
    }
    const epoch = epochOf(info.created);
    if (epoch !== this.#state.epoch) throw new LogPositionError('epoch', `stream ${this.#state.name} was recreated while reading (epoch ${this.#state.epoch}, now ${epoch}): its offsets restarted; read again from a time`);
  }

  #fail(e: Error): void {
    if (this.#finished) return;
    this.#error = e;
    this.#finish();
  }
}

/** The stream deleted or recreated: retrying cannot help. */
function definitive(e: Error): boolean {
  return e instanceof LogPositionError || e instanceof LogReadError;
}

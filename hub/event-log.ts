/**
 * The event log as the hub's delivery core sees it: per stream, events at increasing
 * offsets, an epoch naming the log's life, reads of a range paced by the reader, and a
 * live tail. JetStream is the implementation (hub/jetstream-log.ts); the in-memory one
 * in test/support drives the replayer without a server.
 *
 * Contracts every implementation keeps:
 * - offsets of a stream only grow; `read` and `tail` hand events over in offset order,
 *   each once, and never a gap the log itself has not (retention, filtered subjects);
 * - a read holds a bounded number of events while its reader waits;
 * - a read that cannot reach the end of its range throws LogUnavailable (never ends early
 *   as if done); one whose reader says `cancelled()` throws ResumeCancelled;
 * - whatever a read or tail opened on the log is released on every exit path.
 */
import type { Append } from '../protocol/event-append.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import type { LiveEvent } from './live-event.ts';

/** What reads a range of the log: the events, backpressure, and when to stop. */
export interface RangeReader {
  /** Before `each`: a wait until the socket has room for this event, or undefined to send it now. */
  room?(event: LiveEvent): Promise<void> | undefined;
  each(event: LiveEvent): void;
  /** After each event: a wait (the socket is full), or undefined to go on. */
  pause(): Promise<void> | undefined;
  cancelled(): boolean;
}

/**
 * Gets every record of a tailed log once, in offset order: the event, or undefined for an
 * offset the hub does not deliver (an unknown subject, a record it could not read).
 */
export type TailHandler = (offset: number, event: LiveEvent | undefined) => void;

/** A live tail: started once, stopped once. */
export interface LogTail {
  /** Opens the tail (failing if the log cannot be reached), then keeps it open until `stop()`. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Times the tail had to be reopened (a log node lost), for metrics and tests. */
  readonly reopened: number;
}

/** Where an append landed; `duplicate`: an earlier append with the same id is that event. */
export interface Appended {
  readonly offset: number;
  readonly duplicate: boolean;
}

export interface EventLog {
  /** Appends an event; a retry with the same `id` lands once (within the log's duplicate window). */
  append(append: Append, id: string): Promise<Appended>;
  /** The log's life: changes when the stream is recreated and its offsets restart. */
  epoch(stream: StreamKey): string;
  /** The oldest offset the log still holds (older ones aged out of retention). */
  firstOffset(stream: StreamKey): Promise<number>;
  /** The newest offset appended to the log (0 when empty). */
  lastOffset(stream: StreamKey): Promise<number>;
  /**
   * Reads the events of `stream` whose subject matches `filter` (NATS subject syntax, `*` and `>`)
   * with offsets in (after, upTo], in order, handing each to `reader.each`, waiting on `room` and
   * `pause` whenever they return a promise.
   * @example
   * await log.read('site', 'plant.site.7.>', 41, 90, { each: (e) => out.push(e), pause: () => undefined, cancelled: () => false });
   */
  read(stream: StreamKey, filter: string, after: number, upTo: number, reader: RangeReader): Promise<void>;
  /** Follows `stream` live from offset `next()` on, asked again whenever the tail must be reopened. */
  tail(stream: StreamKey, next: () => number, onEvent: TailHandler): LogTail;
}

/**
 * The log did not answer while a resume read it (a NATS node lost, a stream leader being elected):
 * the session is closed with 4503 so the client reconnects and resumes from what it has, here or
 * on another hub, instead of being left with a subscription that never goes live.
 */
export class LogUnavailable extends Error {
  override readonly name = 'LogUnavailable';
}

/** A read stopped because its reader was cancelled (the socket closed, the subscription went). */
export class ResumeCancelled extends Error {
  override readonly name = 'ResumeCancelled';
}

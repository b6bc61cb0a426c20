/**
 * Resume: replays what a subscription missed since the client's offset, then
 * hands it over to live without a gap or a duplicate, in offset order.
 *
 * The log (EventLog.read: a filtered read paced by the socket) covers what
 * is older than the fan-out's recent window; the window covers the rest and is
 * read synchronously, so checking "replay reached live" and joining live happen
 * in the same tick: no event can slip between.
 */
import type { StreamKey } from '../protocol/subjects.ts';
import { type EventLog, LogUnavailable, type RangeReader, ResumeCancelled } from './event-log.ts';
import type { FanOut } from './fan-out.ts';
import type { LiveEvent } from './live-event.ts';
import type { HubMetrics } from './metrics.ts';
import type { Session, SubscriptionState } from './session.ts';

export interface ResumeFrom {
  readonly offset: number;
  readonly epoch: string;
}

export interface ResumeResult {
  /** Live delivery continues right after this offset. */
  readonly offset: number;
  readonly epoch: string;
  /** False when events were lost to retention or the epoch changed: refetch state. */
  readonly recovered: boolean;
  readonly replayed: number;
}

// Named where the log is; said here too for the replayer's callers.
export { LogUnavailable, type RangeReader, ResumeCancelled };

/** What a catch-up needs of a session: its grant, its socket's room, and joining live. */
export type CatchUpSession = Pick<Session, 'grant' | 'closed' | 'joinLive' | 'receives' | 'receivesCritical' | 'deliver' | 'roomFor' | 'replayFull' | 'drained'>;

/** What a catch-up needs of live delivery: each log's recent window (its `last` is where live is) and epoch. */
export type LiveWindow = Pick<FanOut, 'recent' | 'epochs'>;

/** One catch-up: which events of which log, from where, up to where, and what happens once it is done. */
interface CatchUp {
  readonly stream: StreamKey;
  /** NATS subject filter for the part read from the log. */
  readonly filter: string;
  readonly after: number;
  /** Last offset to send; absent: up to live. */
  readonly upTo?: number;
  accepts(event: LiveEvent): boolean;
  cancelled(): boolean;
  /** Called in the tick that found nothing left to send, with the count sent. */
  caughtUp(sent: number): void;
}

/** Where a session's critical events of a log are, as one filter subject (nats-server 2.9); the rest is filtered here. */
function criticalFilter(ns: string, stream: StreamKey, userKey: string): string {
  if (stream === 'site') return `${ns}.site.*.alarm.>`;
  return stream === 'user' ? `${ns}.user.${userKey}.>` : `${ns}.global.>`;
}

/** A resume's log failure, named; a cancellation stays what it is. */
function unavailable(e: unknown, what: string): Error {
  return e instanceof ResumeCancelled || e instanceof LogUnavailable ? e : new LogUnavailable(`${what}: ${(e as Error).message}`, { cause: e });
}

export class Replayer {
  readonly #events: EventLog;
  readonly #ns: string;
  readonly #fanOut: LiveWindow;
  readonly #metrics: HubMetrics;

  /** `ns`: the namespace the subject filters are in. */
  constructor(events: EventLog, ns: string, fanOut: LiveWindow, metrics: HubMetrics) {
    this.#events = events;
    this.#ns = ns;
    this.#fanOut = fanOut;
    this.#metrics = metrics;
  }

  /** Where live delivery of a log is now: resuming from here replays nothing yet to come. */
  position(stream: StreamKey): ResumeFrom {
    return { offset: this.#fanOut.recent(stream).last, epoch: this.#fanOut.epochs[stream] };
  }

  /** The oldest offset a log still holds (older ones aged out of retention). */
  firstOffset(stream: StreamKey): Promise<number> {
    return this.#events.firstOffset(stream);
  }

  /** Joins `state` to live, first replaying everything after `from` (if given). */
  async resume(session: CatchUpSession, state: SubscriptionState, from: ResumeFrom | undefined): Promise<ResumeResult> {
    const stream = state.sub.stream;
    const epoch = this.#fanOut.epochs[stream];
    const recent = this.#fanOut.recent(stream);
    if (from === undefined || from.epoch !== epoch || from.offset >= recent.last) {
      session.joinLive(state);
      const recovered = from === undefined || from.epoch === epoch;
      if (from !== undefined) this.#metrics.resumes.inc({ recovered: String(recovered) });
      return { offset: recent.last, epoch, recovered, replayed: 0 };
    }

    let cursor = Math.max(0, from.offset);
    let recovered = true;
    const first = await this.firstOffset(stream).catch((e: unknown) => {
      throw unavailable(e, `cannot read where log ${stream} starts`);
    });
    if (cursor + 1 < first) {
      recovered = false; // aged out of retention: deliver what is left, the client refetches state
      cursor = first - 1;
    }
    let result: ResumeResult | undefined;
    await this.#catchUp(session, {
      stream,
      filter: state.sub.filter(this.#ns),
      after: cursor,
      accepts: (e) => session.receives(state, e),
      cancelled: () => state.cancelled,
      caughtUp: (replayed) => {
        // Same tick as the check that the window's rest went out: nothing slips between replay and live.
        session.joinLive(state);
        this.#metrics.resumes.inc({ recovered: String(recovered) });
        this.#metrics.replayed.inc(replayed);
        result = { offset: recent.last, epoch, recovered, replayed };
      },
    });
    return result!;
  }

  /**
   * Sends again the critical events of `stream` in (after, upTo] that are this session's now (its critical
   * topics, under its current grant): the redelivery of what it has not acked, through the same paced path as
   * a resume. Returns how many were sent.
   */
  async redeliver(session: CatchUpSession, stream: StreamKey, after: number, upTo: number): Promise<number> {
    let sent = 0;
    await this.#catchUp(session, {
      stream,
      filter: criticalFilter(this.#ns, stream, session.grant.userKey),
      after,
      upTo,
      accepts: (e) => session.receivesCritical(e),
      cancelled: () => false,
      caughtUp: (n) => {
        sent = n;
      },
    });
    return sent;
  }

  /**
   * The one paced path: the log for what the window no longer holds, then the window, both waiting on the
   * socket's drain. A socket that falls behind keeps making progress and is never closed for its own catch-up
   * (sending the window in one tick overran the hard limit: 4509, resume, 4509 again).
   */
  async #catchUp(session: CatchUpSession, c: CatchUp): Promise<void> {
    const recent = this.#fanOut.recent(c.stream);
    const end = c.upTo ?? Number.POSITIVE_INFINITY;
    let cursor = c.after;
    let sent = 0;
    for (;;) {
      if (c.cancelled() || session.closed) throw new ResumeCancelled();
      if (cursor + 1 < recent.start && cursor < end) {
        const target = Math.min(recent.start - 1, end);
        sent += await this.#replayFromLog(session, c, cursor, target).catch((e: unknown) => {
          throw unavailable(e, `replay of log ${c.stream} failed`);
        });
        cursor = target;
        continue;
      }
      // Sends from the window while the socket has room; the window is read synchronously, so the check
      // "caught up" and what follows it (joining live) happen in one tick and nothing slips between.
      let wait: Promise<void> | undefined;
      for (const e of recent.since(cursor)) {
        if (e.seq > end) break;
        if (c.accepts(e)) {
          wait = session.roomFor(e);
          if (wait !== undefined) break; // sent once there is room for it
          if (session.deliver(e)) sent++;
        }
        cursor = e.seq;
        if (session.closed) break;
        if (session.replayFull()) {
          wait = session.drained();
          break;
        }
      }
      if (session.closed) throw new ResumeCancelled();
      if (wait === undefined) {
        c.caughtUp(sent);
        return;
      }
      // Live events keep arriving while this waits; the window may also move past `cursor`, then the log serves it.
      await wait;
    }
  }

  /** Sends every event of a catch-up in (after, target] from the log, pausing while the socket is full. */
  async #replayFromLog(session: CatchUpSession, c: CatchUp, after: number, target: number): Promise<number> {
    let sent = 0;
    await this.readRange(c.stream, c.filter, after, target, {
      room: (event) => (c.accepts(event) ? session.roomFor(event) : undefined),
      each: (event) => {
        if (c.accepts(event) && session.deliver(event)) sent++;
      },
      // Backpressure: a full socket pauses its own replay, never anyone's live traffic.
      pause: () => (session.replayFull() ? session.drained() : undefined),
      cancelled: () => c.cancelled() || session.closed,
    });
    return sent;
  }

  /**
   * Reads the events of a log matching a subject filter with offsets in (after, target], in order,
   * handing each to `each`; waits on `pause()` whenever it returns a promise (EventLog.read).
   * Throws ResumeCancelled once `cancelled()` is true, LogUnavailable when the log stops answering.
   */
  readRange(stream: StreamKey, filter: string, after: number, target: number, reader: RangeReader): Promise<void> {
    return this.#events.read(stream, filter, after, target, reader);
  }
}

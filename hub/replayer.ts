/**
 * Resume: replays what a subscription missed since the client's offset, then
 * hands it over to live without a gap or a duplicate, in offset order.
 *
 * The log (a filtered JetStream consumer, pulled with backpressure) covers what
 * is older than the fan-out's recent window; the window covers the rest and is
 * read synchronously, so checking "replay reached live" and joining live happen
 * in the same tick: no event can slip between.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { type StreamKey, streamName } from '../protocol/subjects.ts';
import type { FanOut } from './fan-out.ts';
import type { LiveEvent } from './live-event.ts';
import type { Logger } from './logger.ts';
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

/** What reads a range of the log: the events, backpressure, and when to stop. */
export interface RangeReader {
  /** Before `each`: a wait until the socket has room for this event, or undefined to send it now. */
  room?(event: LiveEvent): Promise<void> | undefined;
  each(event: LiveEvent): void;
  pause(): Promise<void> | undefined;
  cancelled(): boolean;
}

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

export class ResumeCancelled extends Error {
  override readonly name = 'ResumeCancelled';
}

/**
 * The log did not answer while a resume read it (a NATS node lost, a stream leader being elected):
 * the session is closed with 4503 so the client reconnects and resumes from what it has, here or
 * on another hub, instead of being left with a subscription that never goes live.
 */
export class LogUnavailable extends Error {
  override readonly name = 'LogUnavailable';
}

/** A resume's NATS failure, named; a cancellation stays what it is. */
function unavailable(e: unknown, what: string): Error {
  return e instanceof ResumeCancelled || e instanceof LogUnavailable ? e : new LogUnavailable(`${what}: ${(e as Error).message}`, { cause: e });
}

export class Replayer {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ns: string;
  readonly #fanOut: FanOut;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;

  constructor(js: JetStreamClient, jsm: JetStreamManager, ns: string, fanOut: FanOut, metrics: HubMetrics, log: Logger) {
    this.#js = js;
    this.#jsm = jsm;
    this.#ns = ns;
    this.#fanOut = fanOut;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Where live delivery of a log is now: resuming from here replays nothing yet to come. */
  position(stream: StreamKey): ResumeFrom {
    return { offset: this.#fanOut.recent(stream).last, epoch: this.#fanOut.epochs[stream] };
  }

  /** The oldest offset a log still holds (older ones aged out of retention). */
  async firstOffset(stream: StreamKey): Promise<number> {
    return (await this.#jsm.streams.info(streamName(this.#ns, stream))).state.first_seq;
  }

  /** Joins `state` to live, first replaying everything after `from` (if given). */
  async resume(session: Session, state: SubscriptionState, from: ResumeFrom | undefined): Promise<ResumeResult> {
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
  async redeliver(session: Session, stream: StreamKey, after: number, upTo: number): Promise<number> {
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
  async #catchUp(session: Session, c: CatchUp): Promise<void> {
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
  async #replayFromLog(session: Session, c: CatchUp, after: number, target: number): Promise<number> {
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
   * Reads the events of a log matching a NATS subject filter with offsets in (after, target],
   * in order, handing each to `each`; waits on `pause()` whenever it returns a promise.
   * Throws ResumeCancelled once `cancelled()` is true.
   */
  async readRange(stream: StreamKey, filter: string, after: number, target: number, reader: RangeReader): Promise<void> {
    const name = streamName(this.#ns, stream);
    const info = await this.#jsm.consumers.add(name, {
      filter_subject: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      inactive_threshold: nanos(30_000),
    });
    // Pending is counted when the consumer is made, after `target` was: zero means nothing up to target.
    if (info.num_pending === 0) {
      void this.#jsm.consumers.delete(name, info.name).catch(() => {});
      return;
    }
    const consumer = await this.#js.consumers.get(name, info.name);
    // Short pulls: the server heartbeats every second while one waits, so a consumer lost with its
    // node shows as missed heartbeats within seconds (nats.js would otherwise wait for it forever).
    const messages = await consumer.consume({ max_messages: 256, expires: 2000 });
    let lost = false;
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === 'heartbeats_missed' && s.count >= 3) {
          lost = true;
          await messages.close().catch(() => {});
          break;
        }
      }
    })().catch(() => {});
    // Only these exits mean "read up to target": an iterator that just ends was stopped, and
    // treating that as done would skip the rest of the range.
    let complete = false;
    try {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        if (reader.cancelled()) throw new ResumeCancelled();
        if (m.seq > target) {
          complete = true;
          break;
        }
        const event = this.#fanOut.toEvent(stream, m);
        if (event !== undefined) {
          const room = reader.room?.(event);
          if (room !== undefined) await room;
          if (reader.cancelled()) throw new ResumeCancelled();
          reader.each(event);
        }
        if (m.info.pending === 0 || m.seq === target) {
          complete = true;
          break;
        }
        const paused = reader.pause();
        if (paused !== undefined) await paused;
      }
      if (!complete) throw new LogUnavailable(lost ? `the replay consumer of ${name} stopped answering (its NATS node gone?)` : `the replay consumer of ${name} ended before offset ${target}`);
    } finally {
      await messages.close().catch(() => {});
      void this.#jsm.consumers.delete(name, info.name).catch((e: Error) => this.#log.debug({ err: e.message }, 'replay consumer cleanup'));
    }
  }
}

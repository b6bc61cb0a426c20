/**
 * What a socket that acks holds about critical delivery, per log: positions, not events.
 *
 * - `sent`: the highest critical offset sent to it by itself (a resume, a redelivery); what its topics sent
 *   is the topics' own `last` (CriticalTopic), so the most an ack may cover is derived, not stored per event.
 * - `acked`: every critical event of the log up to here was handled, or is no longer this socket's (its
 *   subscription or grant is gone). Moved by the client's cumulative acks, and back down when a resume
 *   sends an older event again.
 * - `dueOffset`: the newest per-socket send whose ack timeout is running (one queue entry per log).
 *
 * When something falls due unacked (its topic says so, or the per-socket due entry fires), the socket
 * owes it: the one paced catch-up path (Replayer.redeliver) sends its critical events after `acked` up to
 * that offset again, recent window first, then the log, waiting on drain.
 */
import { CloseCode } from '../protocol/errors.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import type { CriticalMember } from './critical-topic.ts';
import type { Redeliverable } from './redelivery-queue.ts';
import { LogUnavailable, ResumeCancelled } from './replayer.ts';
import type { Session } from './session.ts';
import type { SessionContext } from './session-context.ts';

interface StreamPosition {
  sent: number;
  /** -1 until the socket first joins a topic of the log or is sent one of its events. */
  acked: number;
  dueOffset: number;
  /** While a redelivery runs: the offset it goes up to (0: none runs). */
  owedTo: number;
  /** What fell due while it ran (a long catch-up outlasts an ack timeout): the next pass goes up to here. */
  again: number;
}

const position = (): StreamPosition => ({ sent: 0, acked: -1, dueOffset: 0, owedTo: 0, again: 0 });

export class CriticalPositions implements CriticalMember, Redeliverable {
  readonly #session: Session;
  readonly #ctx: SessionContext;
  readonly #streams: Record<StreamKey, StreamPosition> = { site: position(), user: position(), global: position() };

  constructor(session: Session, ctx: SessionContext) {
    this.#session = session;
    this.#ctx = ctx;
  }

  /** The highest offset of `stream` sent to the socket by itself. */
  sentDirect(stream: StreamKey): number {
    return this.#streams[stream].sent;
  }

  /** A critical event went out to this socket by itself (resume, redelivery): its ack timeout starts now. */
  sent(stream: StreamKey, offset: number): void {
    const p = this.#streams[stream];
    if (offset > p.sent) p.sent = offset;
    // An older event sent again (a resume from before the acked position) is owed again.
    if (p.acked < 0 || offset <= p.acked) p.acked = offset - 1;
    this.#due(stream, p, offset);
  }

  /** Joined a topic of `stream` when its live position was `at`. */
  joined(stream: StreamKey, at: number): void {
    const p = this.#streams[stream];
    if (p.acked < 0) p.acked = at;
  }

  /** Left a topic that had sent it up to `last` since it joined at `joinedAt`: what is unacked falls due as if sent now. */
  left(stream: StreamKey, last: number, joinedAt: number): void {
    const p = this.#streams[stream];
    if (last <= joinedAt || this.#session.closed) return;
    if (last > p.sent) p.sent = last;
    if (p.acked < last) this.#due(stream, p, last);
  }

  /** The client's cumulative ack, already cut to what was sent. */
  ack(stream: StreamKey, offset: number): void {
    const p = this.#streams[stream];
    if (offset > p.acked) p.acked = offset;
  }

  /** The redelivery queue: the per-socket sends of `stream` fell due. */
  redeliverDue(stream: StreamKey): undefined {
    const p = this.#streams[stream];
    const upTo = p.dueOffset;
    p.dueOffset = 0;
    this.owe(stream, upTo);
    return undefined;
  }

  /** Everything of `stream` up to `upTo` sent to this socket is due: what it has not acked is sent again. */
  owe(stream: StreamKey, upTo: number): void {
    const p = this.#streams[stream];
    // Integer compares only: a topic asks every member at each due time.
    if (p.acked >= upTo || this.#session.closed) return;
    if (p.owedTo > 0) {
      if (upTo > p.again) p.again = upTo;
      return;
    }
    p.owedTo = upTo;
    void this.#redeliver(stream, p);
  }

  #due(stream: StreamKey, p: StreamPosition, offset: number): void {
    if (p.dueOffset === 0) this.#ctx.redelivery.schedule(this, stream, this.#ctx.clock.now() + this.#ctx.config.ackTimeoutMs);
    if (offset > p.dueOffset) p.dueOffset = offset;
  }

  async #redeliver(stream: StreamKey, p: StreamPosition): Promise<void> {
    const session = this.#session;
    try {
      while (!session.closed && p.owedTo > p.acked) {
        const replayer = this.#ctx.catchUp();
        if (replayer === undefined) return;
        const upTo = p.owedTo;
        p.again = 0;
        const sent = await replayer.redeliver(session, stream, p.acked, upTo);
        this.#ctx.metrics.redelivered.inc(sent);
        // Nothing up to there is this socket's any more (unsubscribed, revoked, or an event it cannot take).
        if (sent === 0 && p.acked < upTo) p.acked = upTo;
        const max = this.#ctx.config.maxUnackedCritical;
        if (sent > max) {
          this.#ctx.metrics.forcedCloses.inc({ reason: 'unacked' });
          session.end(CloseCode.SlowConsumer, `more than ${max} critical events unacked: reconnect and resume`);
          return;
        }
        if (p.again === 0) return;
        p.owedTo = p.again;
      }
    } catch (e) {
      if (e instanceof ResumeCancelled) return;
      if (e instanceof LogUnavailable) {
        // As for a resume: the client reconnects and resumes from its acked position, here or elsewhere.
        session.end(CloseCode.HubUnavailable, 'event log unavailable: reconnect and resume');
        return;
      }
      this.#ctx.onRedeliveryError(e as Error);
    } finally {
      p.owedTo = 0;
      p.again = 0;
    }
  }
}

/**
 * The times a session lives by, on the hub's clock: its token's expiry (warned `HUB_TOKEN_WARNING_MS` before,
 * closed with 4402 at it) and its idle timeout (closed with 4408 when nothing came for `HUB_IDLE_TIMEOUT_MS`).
 * One entry per session in a due-time queue, for the earliest of them, instead of a pass over every session
 * every 100 ms: a session costs something when one of its times comes, not ten times a second.
 */
import { CloseCode } from '../protocol/errors.ts';
import type { Clock } from './clock.ts';
import type { HubConfig } from './config.ts';
import { DueQueue } from './due-queue.ts';
import type { HubMetrics } from './metrics.ts';
import type { Session } from './session.ts';

export class SessionDeadlines {
  readonly #queue: DueQueue<Session, undefined>;
  readonly #config: HubConfig;
  readonly #metrics: HubMetrics;
  readonly #clock: Clock;
  /** Entries that will find nothing to do (their session closed, or a refresh superseded them). */
  #stale = 0;

  constructor(config: HubConfig, metrics: HubMetrics, clock: Clock, onError: (error: Error) => void) {
    this.#config = config;
    this.#metrics = metrics;
    this.#clock = clock;
    // No key: an entry's due time is the deadline it was for (as the session reads it back), so it tells a stale entry.
    this.#queue = new DueQueue((session, _, now, at) => this.#due(session, at, now), onError, clock);
  }

  /**
   * (Re)computes when `session` must be looked at next. Call when it opens and when its token changes; activity
   * needs no call: an idle deadline that comes finds `lastSeen` moved and sets the next one from it.
   */
  schedule(session: Session): void {
    if (session.closed) return;
    const { idleTimeoutMs, tokenWarningMs } = this.#config;
    // Idle means strictly more than the timeout without a frame.
    let next = session.lastSeen + idleTimeoutMs + 1;
    const expiresAt = session.grant.expiresAt;
    if (expiresAt !== undefined) next = Math.min(next, session.expiryWarned ? expiresAt : expiresAt - tokenWarningMs);
    // A session has one live entry: an earlier one superseded by a refresh is dropped when it comes.
    session.deadlineAt = next;
    // The deadline as the session reads it back (it keeps the time relative, see Session): compared as is.
    const at = session.deadlineAt;
    // Already due (a token inside its warning time at connect): now, not when the clock next moves.
    const now = this.#clock.now();
    if (at <= now) this.#due(session, at, now);
    else this.#queue.schedule(session, undefined, at);
  }

  /** Entries in the queue, stale ones included (for tests and metrics). */
  get pending(): number {
    return this.#queue.size;
  }

  /** A refreshed token: the session's pending entry is superseded by a new one. */
  reschedule(session: Session): void {
    this.#superseded();
    this.schedule(session);
  }

  /** A session closed: its pending entry finds nothing to do. */
  forget(session: Session): void {
    if (session.closed) this.#superseded();
  }

  stop(): void {
    this.#queue.stop();
  }

  /**
   * Once stale entries make up half the queue (and at least MIN_STALE), they are dropped in one pass: a
   * reconnect storm would otherwise keep every closed session, and all it holds, until its idle timeout.
   */
  #superseded(): void {
    if (++this.#stale < Math.max(MIN_STALE, this.#queue.size >> 1)) return;
    this.#stale = 0;
    this.#queue.compact((session, _, due) => !session.closed && session.deadlineAt === due);
  }

  #due(session: Session, at: number, now: number): undefined {
    if (session.closed || session.deadlineAt !== at) return undefined;
    const expiresAt = session.grant.expiresAt;
    if (expiresAt !== undefined && expiresAt <= now) return this.#close(session, CloseCode.TokenExpired, 'token expired');
    if (now - session.lastSeen > this.#config.idleTimeoutMs) return this.#close(session, CloseCode.IdleTimeout, 'idle timeout');
    if (expiresAt !== undefined && !session.expiryWarned && expiresAt - now <= this.#config.tokenWarningMs) {
      session.expiryWarned = true;
      session.send(['auth:expiring', { expiresAt }]);
    }
    this.schedule(session);
    return undefined;
  }

  #close(session: Session, code: number, reason: string): undefined {
    this.#metrics.countRefusal(code);
    session.end(code, reason);
    return undefined;
  }
}

/** Fewer stale entries than this are not worth a pass over the queue. */
const MIN_STALE = 1024;

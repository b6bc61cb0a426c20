/**
 * Which sockets' send buffers to look at, and when. uWS says when a socket drains and what a per-socket send
 * did, but nothing per socket about topic traffic: a socket that stops reading fills up silently. So every
 * 100 ms the gateway asks this watch, which bounds the cost:
 *
 * - sockets that were sent something by themselves since the last look, are slow, or wait for a drain are
 *   looked at (their send results already handle the common case);
 * - every other socket's buffer can have grown at most by the bytes published to topics since the last full
 *   pass. Only when that, added to the fullest buffer seen then, could pass the byte budget is every socket
 *   looked at. At the bench's 25,000 deliveries/s of small frames that is a full pass every few tens of seconds
 *   instead of ten a second; under a flood it is at most one per 100 ms, as before;
 * - a burst between two checks (a consumer catching up after a stall hands on megabytes in one turn) could carry
 *   a socket past uWS's own limit, where uWS closes it in a way the hub cannot tell from a client leaving (see
 *   uws-backpressure.ts). So once the topic bytes since every socket was last looked at reach half the room
 *   between the two limits, the sockets past the hard limit are closed at once, from the fan-out.
 */
import { CloseCode } from '../protocol/errors.ts';
import type { HubConfig } from './config.ts';
import type { HubMetrics } from './metrics.ts';
import type { Session } from './session.ts';
import { OverrunLook } from './uws-backpressure.ts';

export class BufferWatch {
  readonly #config: HubConfig;
  readonly #metrics: HubMetrics;
  readonly #watched = new Set<Session>();
  /** Bytes published to topics since the last full pass (frames of every format). */
  #published = 0;
  /** The fullest buffer of a socket not watched, when last looked at. */
  #fullest = 0;
  /** When topic bytes since every socket was last held to its hard limit call for an overrun look. */
  readonly #overrun: OverrunLook;
  /** The open sessions the last check went over (the gateway's live list): what an overrun look goes over. */
  #sessions: Iterable<Session> = [];

  constructor(config: HubConfig, metrics: HubMetrics) {
    this.#config = config;
    this.#metrics = metrics;
    this.#overrun = new OverrunLook(config.socketHardLimitBytes);
  }

  /** Fan-out published `bytes` to a topic: every member's buffer may have grown by that much. */
  published(bytes: number): void {
    this.#published += bytes;
    if (this.#overrun.published(bytes)) this.#closeOverrun();
  }

  /** `session` was sent something by itself, went slow or waits for a drain: look at it next time. */
  watch(session: Session): void {
    this.#watched.add(session);
  }

  forget(session: Session): void {
    this.#watched.delete(session);
  }

  /**
   * Looks at the sockets that need it (all of them when topic traffic could have filled one). `sessions`: the
   * open sessions, a live collection, also gone over by overrun looks between checks.
   */
  check(sessions: Iterable<Session>): void {
    this.#sessions = sessions;
    if (this.#fullest + this.#published > this.#config.socketBudgetBytes) {
      this.#published = 0;
      this.#fullest = 0;
      this.#overrun.looked();
      for (const s of sessions) this.#look(s);
      return;
    }
    for (const s of this.#watched) this.#look(s);
  }

  /**
   * Closes every socket past its hard limit, now: topic traffic since the last such look could otherwise carry
   * one to uWS's own limit before the next check. Only closes: taking a socket off its topics from inside the
   * fan-out would flush the write coalescing mid-event; going slow waits for the check.
   */
  #closeOverrun(): void {
    const hardLimit = this.#config.socketHardLimitBytes;
    for (const s of this.#sessions) {
      if (!s.closed && s.bufferedAmount > hardLimit) this.#forceClose(s);
    }
  }

  #forceClose(s: Session): void {
    this.#metrics.forcedCloses.inc({ reason: 'hard_limit' });
    s.end(CloseCode.SlowConsumer, 'send buffer full: reconnect and resume');
    this.#watched.delete(s);
  }

  #look(s: Session): void {
    if (s.closed) {
      this.#watched.delete(s);
      return;
    }
    const buffered = s.bufferedAmount;
    if (buffered > this.#config.socketHardLimitBytes) {
      this.#forceClose(s);
      return;
    }
    if (!s.slow && buffered > this.#config.socketBudgetBytes) s.goSlow();
    const wasSlow = s.slow;
    // uWS emits drain only from a writable event; a buffer flushed by a later send drains without one.
    s.onDrain(buffered);
    // Just back on the topics: the newest of what was shed went out by itself, so look once more.
    if (s.slow || s.waitsForDrain || wasSlow) this.#watched.add(s);
    else {
      this.#watched.delete(s);
      if (buffered > this.#fullest) this.#fullest = buffered;
    }
  }
}

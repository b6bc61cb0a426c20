/**
 * AppendOutbox: fire-and-forget appends without loss. Sends wait in a bounded
 * in-process queue and go out as one ordered pipeline, many in flight, each
 * with its own `Nats-Msg-Id`.
 *
 * Order: events are stored in the order they were enqueued. nats.js writes
 * publishes in order on one connection, and JetStream stores them in arrival
 * order. When an append fails (an outage, a timeout, JetStream not ready after a
 * restart) the pipeline stops issuing, lets what is in flight settle, and
 * re-sends from the first event not stored, one at a time until one is stored
 * again, then with the full window: a re-send of an event that was stored after
 * all is deduplicated by its msg id, so re-sending is safe and keeps the order.
 * On a reconnect nats.js has discarded what was written to the dead connection
 * (and its own buffer), so the pipeline re-sends from the first unstored event
 * at once. The one case it cannot order: while connected, JetStream refusing an
 * event transiently but storing the next one already in flight (a cluster
 * leader change); both are still stored, once.
 *
 * Loss: an event leaves the queue only when JetStream stored it, refused it for
 * good (counted `refused`), or `close()` gave up waiting (counted `shutdown`).
 * A full queue refuses new events (counted `outbox_full`). Each such drop is
 * logged, at most one line per reason every few seconds, with how many.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { InvalidArgumentError, type NatsConnection, PermissionViolationError } from '@nats-io/nats-core';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { Append } from './event-append.ts';

/** Why an event was not appended. */
export type DropReason = 'invalid' | 'outbox_full' | 'refused' | 'shutdown';
export const DROP_REASONS: readonly DropReason[] = ['invalid', 'outbox_full', 'refused', 'shutdown'];

/** Counters since start; `depth` and `inFlight` are now. */
export interface OutboxStats {
  /** Events JetStream stored (a deduplicated re-send counts once). */
  readonly appended: number;
  /** Appends sent again after a failure or a reconnect. */
  readonly retried: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Events waiting or in flight. */
  readonly depth: number;
  readonly inFlight: number;
}

/** Where the outbox reports drops and outages: console, pino, or Nest's Logger all fit. */
export interface ServiceLogger {
  warn(message: string): void;
  error(message: string): void;
}

export interface AppendOutboxOptions {
  /** Events the queue holds, waiting or in flight; past it sends are dropped (`outbox_full`). */
  readonly capacity: number;
  /** Appends in flight at once. */
  readonly maxInFlight: number;
  readonly backoff: BackoffOptions;
  readonly logger: ServiceLogger;
  /** Appends one built event with its msg id, resolving to its offset (HubPublisher.appendBuilt). */
  readonly append: (append: Append, msgId: string) => Promise<number>;
}

const State = { Waiting: 0, InFlight: 1, Stored: 2, Refused: 3 } as const;
type State = (typeof State)[keyof typeof State];

interface Entry {
  readonly append: Append;
  readonly msgId: string;
  state: State;
  attempts: number;
  seq: number;
  readonly done: { resolve(offset: number): void; reject(e: Error): void } | undefined;
}

/** Minimum interval between two log lines of the same kind. */
const LOG_EVERY_MS = 5000;
/** Settled slots at the queue's front are cut off in chunks, not one shift per event. */
const COMPACT_AT = 4096;

export class AppendOutbox {
  readonly #o: AppendOutboxOptions;
  /** `#entries[#head]` is the oldest event not settled; `#next` the next to send. */
  #entries: Entry[] = [];
  #head = 0;
  #next = 0;
  /** Attempts of older generations were overtaken by a re-send: their failures mean nothing. */
  #gen = 0;
  #inFlight = 0;
  #connected = true;
  /** After a failure: stop issuing until what is in flight settled, then wait the backoff. */
  #recovering = false;
  /** After a failure or reconnect, one event at a time until one is stored: a window would race JetStream coming back. */
  #probing = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** No new events (close() was called); the queue still drains. */
  #closed = false;
  /** close() is done: nothing more is sent or retried. */
  #stopped = false;
  #appended = 0;
  #retried = 0;
  readonly #dropped: Record<DropReason, number> = { invalid: 0, outbox_full: 0, refused: 0, shutdown: 0 };
  readonly #lastLog = new Map<string, { at: number; suppressed: number }>();
  #emptyWaiters: Array<() => void> = [];

  constructor(options: AppendOutboxOptions, nc: NatsConnection) {
    this.#o = options;
    void this.#followStatus(nc);
  }

  get stats(): OutboxStats {
    return { appended: this.#appended, retried: this.#retried, dropped: { ...this.#dropped }, depth: this.depth, inFlight: this.#inFlight };
  }

  get depth(): number {
    return this.#entries.length - this.#head;
  }

  /** Queues an event; `done` learns its offset or why it was dropped. Never throws. */
  enqueue(append: Append, msgId: string, done?: Entry['done']): void {
    if (this.#closed) return this.#dropNew('shutdown', `${append.event} to ${append.subject} sent after close(): not appended`, done);
    if (this.depth >= this.#o.capacity) return this.#dropNew('outbox_full', `outbox full (${this.#o.capacity} events waiting for NATS): ${append.event} to ${append.subject} dropped`, done);
    this.#entries.push({ append, msgId, state: State.Waiting, attempts: 0, seq: 0, done });
    this.#pump();
  }

  /** Counts and logs an event refused before it was queued (it could not be built). */
  dropInvalid(message: string): void {
    this.#drop('invalid', message);
  }

  /** Resolves when every event queued so far has settled, or after `timeoutMs` (false then). */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.depth === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#emptyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stops taking events, drains for up to `timeoutMs`, then drops (and counts) what is left. */
  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush(timeoutMs);
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    const left = this.#entries.slice(this.#head).filter((e) => e.state !== State.Stored && e.state !== State.Refused);
    if (left.length > 0) {
      this.#dropped.shutdown += left.length;
      this.#o.logger.error(`close(): ${left.length} events not confirmed as appended within ${timeoutMs} ms (NATS unreachable?); given up, first: ${left[0]!.append.event} to ${left[0]!.append.subject}`);
      for (const e of left) {
        // Settled for good: a late answer of an attempt still in flight changes nothing now.
        e.state = State.Refused;
        e.done?.reject(new Error('not appended before close()'));
      }
    }
    this.#gen++;
    this.#entries = [];
    this.#head = this.#next = 0;
    for (const w of this.#emptyWaiters.splice(0)) w();
  }

  #pump(): void {
    if (!this.#connected || this.#recovering || this.#retryTimer !== undefined || this.#stopped) return;
    const limit = Math.min(this.#entries.length, this.#head + (this.#probing ? 1 : this.#o.maxInFlight));
    while (this.#next < limit) {
      const e = this.#entries[this.#next++]!;
      if (e.state === State.Waiting) this.#send(e);
    }
  }

  #send(e: Entry): void {
    const gen = this.#gen;
    e.state = State.InFlight;
    if (e.attempts++ > 0) this.#retried++;
    this.#inFlight++;
    this.#o.append(e.append, e.msgId).then(
      (seq) => this.#settled(e, gen, seq, undefined),
      (err: unknown) => this.#settled(e, gen, 0, err),
    );
  }

  #settled(e: Entry, gen: number, seq: number, err: unknown): void {
    if (gen === this.#gen) this.#inFlight--;
    if (e.state === State.Stored || e.state === State.Refused) {
      // Already settled by another attempt.
    } else if (err === undefined) {
      // A late answer of an overtaken attempt counts too: the event is stored.
      e.state = State.Stored;
      e.seq = seq;
      this.#appended++;
      if (gen === this.#gen && this.#failures > 0) {
        this.#o.logger.warn(`appends resumed after ${this.#failures} failed attempts; ${this.depth} events waiting`);
        this.#failures = 0;
      }
      if (gen === this.#gen) this.#probing = false;
    } else if (isPermanent(err)) {
      e.state = State.Refused;
      this.#dropped.refused++;
      this.#log('refused', `JetStream refused ${e.append.event} to ${e.append.subject} for good: ${(err as Error).message}`);
      e.done?.reject(err as Error);
    } else if (gen === this.#gen) {
      e.state = State.Waiting;
      if (!this.#recovering) {
        this.#recovering = true;
        this.#failures++;
        this.#log('retry', `append of ${e.append.event} to ${e.append.subject} failed (${(err as Error).message}); retrying with backoff, ${this.depth} events waiting`);
      }
    }
    this.#advance();
    // Also while closing: the drain retries like any other moment.
    if (this.#recovering && this.#inFlight === 0 && this.#retryTimer === undefined && !this.#stopped) this.#scheduleRetry();
    this.#pump();
  }

  /** Re-sends from the first unstored event after the backoff; overtaken attempts become stale. */
  #scheduleRetry(): void {
    const delay = backoffDelay(this.#failures - 1, this.#o.backoff);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#restartFromHead();
    }, delay);
  }

  #restartFromHead(): void {
    this.#gen++;
    this.#inFlight = 0;
    this.#recovering = false;
    this.#probing = true;
    for (let i = this.#head; i < this.#next; i++) {
      const e = this.#entries[i]!;
      if (e.state === State.InFlight) e.state = State.Waiting;
    }
    this.#next = this.#head;
    this.#pump();
  }

  /** Moves the head past settled events, resolving their callers in order. */
  #advance(): void {
    const entries = this.#entries;
    let head = this.#head;
    while (head < entries.length) {
      const e = entries[head]!;
      if (e.state === State.Stored) e.done?.resolve(e.seq);
      else if (e.state !== State.Refused) break;
      head++;
    }
    if (head === this.#head) return;
    if (head >= COMPACT_AT && head * 2 >= entries.length) {
      entries.splice(0, head);
      this.#next -= head;
      head = 0;
    }
    this.#head = head;
    if (this.#next < head) this.#next = head;
    if (this.depth === 0) for (const w of this.#emptyWaiters.splice(0)) w();
  }

  async #followStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          // Stop writing into a connection nats.js will discard on reconnect.
          this.#connected = false;
          this.#log('retry', `NATS connection lost: ${this.depth} events wait in the outbox (capacity ${this.#o.capacity}); appending resumes on reconnect`);
        } else if (s.type === 'reconnect' && !this.#stopped) {
          this.#connected = true;
          clearTimeout(this.#retryTimer);
          this.#retryTimer = undefined;
          if (this.depth > 0) {
            if (this.#failures === 0) this.#failures = 1;
            this.#restartFromHead();
          }
        }
      }
    } catch (e) {
      this.#o.logger.error(`outbox stopped following the NATS connection status: ${(e as Error).message}`);
    }
  }

  #dropNew(reason: DropReason, message: string, done: Entry['done']): void {
    this.#drop(reason, message);
    done?.reject(new Error(message));
  }

  #drop(reason: DropReason, message: string): void {
    this.#dropped[reason]++;
    this.#log(reason, message);
  }

  /** One line per kind every LOG_EVERY_MS at most, saying how many were not logged in between. */
  #log(kind: string, message: string): void {
    const now = Date.now();
    const last = this.#lastLog.get(kind);
    if (last !== undefined && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    const more = last !== undefined && last.suppressed > 0 ? ` (and ${last.suppressed} more like it in the last ${Math.round((now - last.at) / 1000)} s)` : '';
    this.#lastLog.set(kind, { at: now, suppressed: 0 });
    if (kind === 'retry') this.#o.logger.warn(`${message}${more}`);
    else this.#o.logger.error(`${message}${more}`);
  }
}

/** Failures no re-send can fix: too large for the server, forbidden, or a JetStream 4xx answer. */
function isPermanent(err: unknown): boolean {
  const cause = err instanceof Error && err.name === 'AppendError' ? err.cause : err;
  if (cause instanceof InvalidArgumentError || cause instanceof PermissionViolationError) return true;
  return cause instanceof JetStreamApiError && cause.status >= 400 && cause.status < 500 && cause.status !== 408;
}

/**
 * An EventLog in memory: the second implementation of hub/event-log.ts, for driving the hub's
 * delivery core (the replayer, the live window) without a NATS server. It keeps the contract the
 * JetStream one does: offsets from 1 in append order, reads in order and paced by the reader,
 * tails delivering each offset once, asynchronously (as a consumer's messages arrive), and
 * LogUnavailable when the log is made unavailable. `openReads` counts reads in progress, as the
 * JetStream tests count consumers.
 */
import { specForSubject } from '../../protocol/catalogue.ts';
import type { Append } from '../../protocol/event-append.ts';
import { parseSubject, type StreamKey } from '../../protocol/subjects.ts';
import type { Clock } from '../../hub/clock.ts';
import { type Appended, type EventLog, type LogTail, LogUnavailable, type RangeReader, ResumeCancelled, type TailHandler } from '../../hub/event-log.ts';
import { LiveEvent } from '../../hub/live-event.ts';

interface Entry {
  readonly subject: string;
  readonly event: LiveEvent | undefined;
}

/** NATS subject matching: `*` is one token, a final `>` the rest (at least one token). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

export class MemoryLog implements EventLog {
  readonly #ns: string;
  readonly #clock: Clock;
  readonly #entries: Record<StreamKey, Entry[]> = { site: [], user: [], global: [] };
  readonly #ids = new Map<string, Appended>();
  readonly #epochs: Record<StreamKey, string>;
  readonly #tails = new Set<MemoryTail>();
  /** While true, every read and append fails as a lost NATS node would make them. */
  unavailable = false;
  /** Reads started and not yet finished, on whatever exit path. */
  openReads = 0;

  constructor(ns: string, clock: Clock, epoch = 'e1') {
    this.#ns = ns;
    this.#clock = clock;
    this.#epochs = { site: epoch, user: epoch, global: epoch };
  }

  async append(append: Append, id: string): Promise<Appended> {
    if (this.unavailable) throw new LogUnavailable('memory log unavailable');
    const known = this.#ids.get(id);
    if (known !== undefined) return { offset: known.offset, duplicate: true };
    const entries = this.#entries[append.stream];
    const offset = entries.length + 1;
    const parsed = parseSubject(this.#ns, append.subject);
    const spec = parsed === undefined ? undefined : specForSubject(parsed.stream, parsed.tail);
    const event = parsed === undefined || spec === undefined ? undefined : new LiveEvent(offset, append.stream, parsed.owner, spec, append.payload, this.#clock.now(), this.#epochs[append.stream]);
    entries.push({ subject: append.subject, event });
    const appended = { offset, duplicate: false };
    this.#ids.set(id, appended);
    for (const tail of this.#tails) if (tail.stream === append.stream) tail.wake();
    return appended;
  }

  epoch(stream: StreamKey): string {
    return this.#epochs[stream];
  }

  async firstOffset(stream: StreamKey): Promise<number> {
    if (this.unavailable) throw new LogUnavailable('memory log unavailable');
    return this.#entries[stream].length === 0 ? 0 : 1;
  }

  async lastOffset(stream: StreamKey): Promise<number> {
    if (this.unavailable) throw new LogUnavailable('memory log unavailable');
    return this.#entries[stream].length;
  }

  async read(stream: StreamKey, filter: string, after: number, upTo: number, reader: RangeReader): Promise<void> {
    this.openReads++;
    try {
      const entries = this.#entries[stream];
      for (let offset = after + 1; offset <= Math.min(upTo, entries.length); offset++) {
        // A turn of the event loop per event, as records arrive from a server.
        await Promise.resolve();
        if (this.unavailable) throw new LogUnavailable(`memory log ${stream} unavailable at offset ${offset}`);
        if (reader.cancelled()) throw new ResumeCancelled();
        const { subject, event } = entries[offset - 1]!;
        if (event === undefined || !subjectMatches(filter, subject)) continue;
        const room = reader.room?.(event);
        if (room !== undefined) await room;
        if (reader.cancelled()) throw new ResumeCancelled();
        reader.each(event);
        const paused = reader.pause();
        if (paused !== undefined) await paused;
      }
    } finally {
      this.openReads--;
    }
  }

  tail(stream: StreamKey, next: () => number, onEvent: TailHandler): LogTail {
    return new MemoryTail(stream, next, onEvent, this.#entries[stream], this.#tails);
  }
}

class MemoryTail implements LogTail {
  readonly stream: StreamKey;
  readonly #next: () => number;
  readonly #onEvent: TailHandler;
  readonly #entries: Entry[];
  readonly #tails: Set<MemoryTail>;
  #scheduled = false;
  /** The last offset handed over. */
  #cursor = 0;
  readonly reopened = 0;

  constructor(stream: StreamKey, next: () => number, onEvent: TailHandler, entries: Entry[], tails: Set<MemoryTail>) {
    this.stream = stream;
    this.#next = next;
    this.#onEvent = onEvent;
    this.#entries = entries;
    this.#tails = tails;
  }

  async start(): Promise<void> {
    this.#cursor = this.#next() - 1;
    this.#tails.add(this);
    this.wake();
  }

  async stop(): Promise<void> {
    this.#tails.delete(this);
  }

  /** Hands over, in a later microtask, everything from `next()` on: appends arrive as a batch, never inside `append`. */
  wake(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#tails.has(this)) return;
      while (this.#cursor < this.#entries.length) {
        this.#cursor++;
        this.#onEvent(this.#cursor, this.#entries[this.#cursor - 1]!.event);
      }
    });
  }
}

/**
 * The most recent events of one log, in offset order: what the live consumer has
 * published. The window covers every offset from `start` to `last`. A resume
 * finishes from here synchronously, so the hand-over to live happens in one tick
 * and nothing slips between.
 */
import type { LiveEvent } from './live-event.ts';

export class RecentEvents {
  readonly #capacity: number;
  /** Payload bytes the window may hold: a few large events must not hold a gigabyte. */
  readonly #maxBytes: number;
  #bytes = 0;
  readonly #events: (LiveEvent | undefined)[];
  #head = 0;
  #size = 0;
  #start: number;
  #last: number;

  /** `last`: the log's last offset when the live consumer started after it. */
  constructor(capacity: number, last: number, maxBytes = Number.POSITIVE_INFINITY) {
    this.#capacity = capacity;
    this.#maxBytes = maxBytes;
    this.#events = new Array(capacity);
    this.#start = last + 1;
    this.#last = last;
  }

  /** First offset covered; older events must be read from the log. */
  get start(): number {
    return this.#start;
  }

  /** Last offset the live consumer has published (the hand-over point). */
  get last(): number {
    return this.#last;
  }

  /** Records an offset the hub does not deliver (unknown subject), keeping the window contiguous. */
  skip(seq: number): void {
    if (seq > this.#last) this.#last = seq;
  }

  push(event: LiveEvent): void {
    if (event.seq <= this.#last) return; // already published (consumer redelivered after a reset)
    if (this.#size === this.#capacity) this.#evictOldest();
    // Bounded by bytes as well as by count; the newest event always stays (the window must reach `last`).
    while (this.#size > 0 && this.#bytes + event.payload.byteLength > this.#maxBytes) this.#evictOldest();
    this.#events[(this.#head + this.#size) % this.#capacity] = event;
    this.#size++;
    this.#bytes += event.payload.byteLength;
    this.#last = event.seq;
  }

  /** Events with offset > `after`, oldest first. Callers ensure `after + 1 >= start`. */
  *since(after: number): Generator<LiveEvent> {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at(mid).seq <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#size; i++) yield this.#at(i);
  }

  #evictOldest(): void {
    const evicted = this.#events[this.#head]!;
    this.#events[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size--;
    this.#bytes -= evicted.payload.byteLength;
    this.#start = evicted.seq + 1;
  }

  #at(i: number): LiveEvent {
    return this.#events[(this.#head + i) % this.#capacity]!;
  }
}

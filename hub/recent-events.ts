/**
 * The most recent events of one log, in offset order: what the live consumer has
 * published. The window covers every offset from `start` to `last`. A resume
 * finishes from here synchronously, so the hand-over to live happens in one tick
 * and nothing slips between.
 */
import type { LiveEvent } from './live-event.ts';

export class RecentEvents {
  readonly #capacity: number;
  readonly #events: (LiveEvent | undefined)[];
  #head = 0;
  #size = 0;
  #start: number;
  #last: number;

  /** `last`: the log's last offset when the live consumer started after it. */
  constructor(capacity: number, last: number) {
    this.#capacity = capacity;
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
    if (this.#size === this.#capacity) {
      const evicted = this.#events[this.#head]!;
      this.#events[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      this.#start = evicted.seq + 1;
    }
    this.#events[(this.#head + this.#size) % this.#capacity] = event;
    this.#size++;
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

  #at(i: number): LiveEvent {
    return this.#events[(this.#head + i) % this.#capacity]!;
  }
}

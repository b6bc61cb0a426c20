/**
 * Things that fall due at a time on the hub's clock, ordered by due time in a binary heap, with one timer for
 * the earliest: what replaces sweeps over every session (redelivery of unacked critical events, token expiry,
 * idle sockets). The cost follows what is due, not the connection count.
 */
import { type Clock, systemClock } from './clock.ts';

/** Handles what fell due for `target` under `key`; answers when it falls due next (undefined: not again). */
export type DueHandler<T, K> = (target: T, key: K, now: number) => number | undefined;

interface Entry<T, K> {
  readonly due: number;
  readonly target: T;
  readonly key: K;
}

export class DueQueue<T, K> {
  readonly #heap: Entry<T, K>[] = [];
  readonly #handle: DueHandler<T, K>;
  #cancelTimer: (() => void) | undefined;
  #timerDue = Number.POSITIVE_INFINITY;
  #stopped = false;
  readonly #onError: (error: Error) => void;
  readonly #clock: Clock;

  /** `handle`: called per entry due (one closure per queue). `onError`: an entry that failed (logged; the others go on). `clock`: tests drive their own. */
  constructor(handle: DueHandler<T, K>, onError: (error: Error) => void, clock: Clock = systemClock) {
    this.#handle = handle;
    this.#onError = onError;
    this.#clock = clock;
  }

  /** Entries waiting (for metrics and tests). */
  get size(): number {
    return this.#heap.length;
  }

  /** Calls the handler with `target` and `key` at `due` (or soon after); what it answers reschedules it. */
  schedule(target: T, key: K, due: number): void {
    if (this.#stopped) return;
    const heap = this.#heap;
    heap.push({ due, target, key });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.due <= heap[i]!.due) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#heap.length = 0;
  }

  #arm(): void {
    const head = this.#heap[0];
    if (head === undefined || head.due >= this.#timerDue) return;
    this.#cancelTimer?.();
    this.#timerDue = head.due;
    this.#cancelTimer = this.#clock.schedule(() => this.#fire(), Math.max(0, head.due - this.#clock.now()));
  }

  #fire(): void {
    this.#cancelTimer = undefined;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now) {
      const { target, key } = this.#pop();
      // One entry's failure must not stop the others.
      let next: number | undefined;
      try {
        next = this.#handle(target, key, now);
      } catch (e) {
        this.#onError(e as Error);
      }
      if (next !== undefined) this.schedule(target, key, Math.max(next, now + 1));
    }
    this.#arm();
  }

  #pop(): Entry<T, K> {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < heap.length && heap[l]!.due < heap[min]!.due) min = l;
        if (r < heap.length && heap[r]!.due < heap[min]!.due) min = r;
        if (min === i) break;
        [heap[min], heap[i]] = [heap[i]!, heap[min]!];
        i = min;
      }
    }
    return top;
  }
}

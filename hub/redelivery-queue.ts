/**
 * When critical events fall due unacked: at most one entry per critical topic with acking members (for what
 * it published) and one per socket and log (for what the socket was sent by itself), ordered by due time in a
 * binary heap, with one timer for the earliest. Replaces a 100 ms sweep over every session: the cost follows
 * the topics with critical traffic and the sockets catching up, not the connection count.
 */
import type { StreamKey } from '../protocol/subjects.ts';
import { type Clock, systemClock } from './clock.ts';

/** A topic's or a socket's side: handles what fell due on `stream` and says when the next falls due. */
export interface Redeliverable {
  redeliverDue(stream: StreamKey, now: number): number | undefined;
}

interface Entry {
  readonly due: number;
  readonly target: Redeliverable;
  readonly stream: StreamKey;
}

export class RedeliveryQueue {
  readonly #heap: Entry[] = [];
  #cancelTimer: (() => void) | undefined;
  #timerDue = Number.POSITIVE_INFINITY;
  #stopped = false;
  readonly #onError: (error: Error) => void;
  readonly #clock: Clock;

  /** `onError`: a session that failed its redelivery (logged; the others' go on). `clock`: tests drive their own. */
  constructor(onError: (error: Error) => void, clock: Clock = systemClock) {
    this.#onError = onError;
    this.#clock = clock;
  }

  /** Entries waiting (for metrics and tests). */
  get size(): number {
    return this.#heap.length;
  }

  /** Calls `target.redeliverDue(stream, now)` at `due` (or soon after); the target reschedules itself if need be. */
  schedule(target: Redeliverable, stream: StreamKey, due: number): void {
    if (this.#stopped) return;
    const heap = this.#heap;
    heap.push({ due, target, stream });
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
      const { target, stream } = this.#pop();
      // One session's failure must not stop the others' redelivery.
      let next: number | undefined;
      try {
        next = target.redeliverDue(stream, now);
      } catch (e) {
        this.#onError(e as Error);
      }
      if (next !== undefined) this.schedule(target, stream, Math.max(next, now + 1));
    }
    this.#arm();
  }

  #pop(): Entry {
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

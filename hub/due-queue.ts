/**
 * Things that fall due at a time on the hub's clock, ordered by due time in a binary heap, with one timer for
 * the earliest: what replaces sweeps over every session (redelivery of unacked critical events, token expiry,
 * idle sockets). The cost follows what is due, not the connection count.
 */
import { type Clock, systemClock } from './clock.ts';

/** Handles what fell due for `target` under `key` at `due`; answers when it falls due next (undefined: not again). */
export type DueHandler<T, K> = (target: T, key: K, now: number, due: number) => number | undefined;

export class DueQueue<T, K> {
  /**
   * The binary heap as three parallel arrays, not an object per entry: a session's deadline entry was an
   * object of ~48 bytes plus a boxed due time; here it is three array slots (the due times unboxed doubles).
   * The keys' array is made by the first key that is not undefined: a queue whose due time says it all (the
   * sessions' deadlines) has two slots an entry.
   */
  readonly #dues: number[] = [];
  readonly #targets: T[] = [];
  #keys: K[] | undefined;
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
    return this.#dues.length;
  }

  /** Calls the handler with `target` and `key` at `due` (or soon after); what it answers reschedules it. */
  schedule(target: T, key: K, due: number): void {
    if (this.#stopped) return;
    const dues = this.#dues;
    let i = dues.length;
    dues.push(due);
    this.#targets.push(target);
    if (this.#keys === undefined && key !== undefined) this.#keys = new Array<K>(i).fill(undefined as K);
    this.#keys?.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (dues[parent]! <= due) break;
      this.#swap(parent, i);
      i = parent;
    }
    this.#arm();
  }

  /**
   * Drops the entries `keep` refuses (a closed session's, one a later entry superseded) and rebuilds the heap:
   * otherwise they would wait, holding their target, until their own due time comes.
   */
  compact(keep: (target: T, key: K, due: number) => boolean): void {
    const dues = this.#dues;
    const targets = this.#targets;
    const keys = this.#keys;
    let n = 0;
    for (let i = 0; i < dues.length; i++) {
      const key = keys === undefined ? (undefined as K) : keys[i]!;
      if (!keep(targets[i]!, key, dues[i]!)) continue;
      dues[n] = dues[i]!;
      targets[n] = targets[i]!;
      if (keys !== undefined) keys[n] = key;
      n++;
    }
    dues.length = n;
    targets.length = n;
    if (keys !== undefined) keys.length = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#siftDown(i);
    // The armed timer may be for an entry now gone: firing early finds nothing due and re-arms.
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#dues.length = 0;
    this.#targets.length = 0;
    this.#keys = undefined;
  }

  #arm(): void {
    if (this.#dues.length === 0) return;
    const due = this.#dues[0]!;
    if (due >= this.#timerDue) return;
    this.#cancelTimer?.();
    this.#timerDue = due;
    this.#cancelTimer = this.#clock.schedule(() => this.#fire(), Math.max(0, due - this.#clock.now()));
  }

  #fire(): void {
    this.#cancelTimer = undefined;
    this.#timerDue = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    while (this.#dues.length > 0 && this.#dues[0]! <= now) {
      const due = this.#dues[0]!;
      const target = this.#targets[0]!;
      const key = this.#keys === undefined ? (undefined as K) : this.#keys[0]!;
      this.#pop();
      // One entry's failure must not stop the others.
      let next: number | undefined;
      try {
        next = this.#handle(target, key, now, due);
      } catch (e) {
        this.#onError(e as Error);
      }
      if (next !== undefined) this.schedule(target, key, Math.max(next, now + 1));
    }
    this.#arm();
  }

  /** Removes the head. */
  #pop(): void {
    const dues = this.#dues;
    const due = dues.pop()!;
    const target = this.#targets.pop()!;
    const keys = this.#keys;
    const key = keys?.pop();
    const n = dues.length;
    if (n === 0) return;
    dues[0] = due;
    this.#targets[0] = target;
    if (keys !== undefined) keys[0] = key!;
    this.#siftDown(0);
  }

  /** Moves the entry at `i` down to where the heap holds again. */
  #siftDown(i: number): void {
    const dues = this.#dues;
    const n = dues.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && dues[l]! < dues[min]!) min = l;
      if (r < n && dues[r]! < dues[min]!) min = r;
      if (min === i) break;
      this.#swap(min, i);
      i = min;
    }
  }

  #swap(a: number, b: number): void {
    const dues = this.#dues;
    const targets = this.#targets;
    const keys = this.#keys;
    const due = dues[a]!;
    dues[a] = dues[b]!;
    dues[b] = due;
    const target = targets[a]!;
    targets[a] = targets[b]!;
    targets[b] = target;
    if (keys === undefined) return;
    const key = keys[a]!;
    keys[a] = keys[b]!;
    keys[b] = key;
  }
}

/**
 * The offsets a client has already handled, per log, for dropping duplicates
 * (redeliveries, overlapping replays). Bounded: the oldest are forgotten first.
 */
export class SeenOffsets {
  readonly #capacity: number;
  readonly #sets = new Map<string, Set<number>>();

  constructor(capacity = 20_000) {
    this.#capacity = capacity;
  }

  has(stream: string, offset: number): boolean {
    return this.#sets.get(stream)?.has(offset) ?? false;
  }

  add(stream: string, offset: number): void {
    let set = this.#sets.get(stream);
    if (set === undefined) this.#sets.set(stream, (set = new Set()));
    set.add(offset);
    if (set.size > this.#capacity) set.delete(set.values().next().value as number);
  }

  /** Forgets a log whose epoch changed: its old offsets mean nothing now. */
  clear(stream: string): void {
    this.#sets.delete(stream);
  }
}

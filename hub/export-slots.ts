/**
 * How many exports (event streams) one token runs at once. Each export holds a
 * JetStream consumer while it streams, so a burst of requests from one token must
 * not turn into a burst of consumers: past the bound the route answers 429.
 */
export class ExportSlots {
  readonly #perKey: number;
  readonly #held = new Map<string, number>();

  constructor(perKey: number) {
    this.#perKey = perKey;
  }

  /**
   * Takes a slot for `key` (a user key, or `service`); returns its release, which
   * may be called more than once, or undefined when `key` holds every slot.
   *
   * @example
   * const release = slots.acquire(grant.userKey);
   * if (release === undefined) return tooMany();
   * try { await stream(); } finally { release(); }
   */
  acquire(key: string): (() => void) | undefined {
    const held = this.#held.get(key) ?? 0;
    if (held >= this.#perKey) return undefined;
    this.#held.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#held.get(key) ?? 1) - 1;
      // Only keys with exports running stay in the map.
      if (left === 0) this.#held.delete(key);
      else this.#held.set(key, left);
    };
  }

  /** Exports running now, all keys together. */
  get running(): number {
    let n = 0;
    for (const held of this.#held.values()) n += held;
    return n;
  }
}

/**
 * Token buckets keyed by a string (a client address, a token's user): `rate` per
 * second with bursts up to `burst`. Memory is bounded: keys idle long enough to
 * have refilled are forgotten (a full bucket is the same as none), and past
 * `maxKeys` the oldest key makes room, so a flood of new keys cannot grow the map.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  // Set by the first call, so a clock the caller drives (tests) is the only clock.
  #lastPrune = Number.NEGATIVE_INFINITY;

  constructor(ratePerSecond: number, burst = ratePerSecond, maxKeys = 100_000) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token for `key`; false when it has none left. */
  take(key: string, now = Date.now()): boolean {
    return this.wait(key, now) === 0;
  }

  /** Takes one token for `key` and answers 0, or, when it has none, how many ms until it has one. */
  wait(key: string, now = Date.now()): number {
    if (now - this.#lastPrune > 10_000) this.#prune(now);
    const b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) {
        // A sweep at most once a second: sweeping on every new key would cost O(keys) each under a flood.
        if (now - this.#lastPrune > 1000) this.#prune(now);
        // Still full of busy keys: the oldest starts over with a full bucket, a bounded generosity.
        if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      this.#buckets.set(key, { tokens: this.#burst - 1, at: now });
      return 0;
    }
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.#rate) * 1000);
  }

  /** Keys held now (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #prune(now: number): void {
    this.#lastPrune = now;
    const full = (this.#burst / this.#rate) * 1000;
    for (const [key, b] of this.#buckets) if (now - b.at > full) this.#buckets.delete(key);
  }
}

/** One bucket, for a single connection's commands. `now`: its creation, on the clock `take` will be given. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly rate: number,
    readonly burst: number,
    now = Date.now(),
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

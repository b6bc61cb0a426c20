/**
 * Token buckets keyed by a string (a client address): `rate` per second with
 * bursts up to `burst`. Idle keys are forgotten so the map stays small.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #lastPrune = Date.now();

  constructor(ratePerSecond: number, burst = ratePerSecond) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
  }

  /** Takes one token for `key`; false when it has none left. */
  take(key: string, now = Date.now()): boolean {
    if (now - this.#lastPrune > 10_000) this.#prune(now);
    const b = this.#buckets.get(key);
    if (b === undefined) {
      this.#buckets.set(key, { tokens: this.#burst - 1, at: now });
      return true;
    }
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #prune(now: number): void {
    this.#lastPrune = now;
    const full = (this.#burst / this.#rate) * 1000;
    for (const [key, b] of this.#buckets) if (now - b.at > full) this.#buckets.delete(key);
  }
}

/** One bucket, for a single connection's commands. */
export class TokenBucket {
  #tokens: number;
  #at = Date.now();
  constructor(
    readonly rate: number,
    readonly burst: number,
  ) {
    this.#tokens = burst;
  }

  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

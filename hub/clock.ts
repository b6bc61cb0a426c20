/**
 * Time, where a component's behaviour depends on it: the system clock in the hub, a clock the test moves by
 * hand in tests (test/support/test-clock.ts), so a test of "called at its due time, never before" needs no
 * real waiting and cannot be made flaky by a busy machine.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once, `ms` from now; answers a function that cancels it (a no-op once it has run). */
  schedule(callback: () => void, ms: number): () => void;
}

/** The real clock. Its timers do not keep the process alive: the hub's lifetime is its listening socket's. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

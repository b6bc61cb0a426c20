/**
 * Time, where the hub's behaviour depends on it (token expiry and its warning, idle sockets, redelivery of
 * unacked events): the system clock in production, a clock the test moves by hand in tests
 * (test/support/test-clock.ts, passed as `Hub.start(config, log, { clock })`), so "warned, then closed at
 * expiry and not before" or "called at its due time" needs no real waiting and no busy-machine margins.
 * Rate limits, presence and metrics read the system time: their tests need no clock of their own.
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

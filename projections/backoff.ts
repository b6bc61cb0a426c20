/** Waiting between retries while NATS or Postgres is down. */

/** Exponential from 250 ms, capped, with ±20% jitter so restarted workers do not retry in step. */
export function backoffDelay(attempt: number, maxMs: number): number {
  const base = Math.min(250 * 2 ** Math.max(0, attempt - 1), maxMs);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

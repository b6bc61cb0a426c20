/**
 * Waiting on a condition instead of sleeping: a test polls what it needs (a state, a count, an
 * HTTP answer) until it holds, and fails after a deadline naming what it waited for.
 */

export interface WaitForOptions {
  /** Fails after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Named in the failure: "timed out after … waiting for <what>". A function is called then, to show the last state. */
  readonly what: string | (() => string);
  /** How often the condition is checked (default 20 ms); a poll interval, not a wait for something to happen. */
  readonly everyMs?: number;
}

/**
 * Resolves once `condition` holds (or resolves true); rejects after `timeoutMs`.
 *
 * @example
 * await waitFor(() => worker.state === 'retrying', { what: 'the worker noticing the outage' });
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, options: WaitForOptions): Promise<void> {
  const { timeoutMs = 10_000, everyMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const what = typeof options.what === 'function' ? options.what() : options.what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waiting on a condition instead of sleeping: a test polls what it needs (a state, a count, an
 * HTTP answer) until it holds, and fails after a deadline naming what it waited for.
 */
import assert from 'node:assert/strict';

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

/**
 * Resolves once `read()` deep-equals `expected`; after `timeoutMs`, fails with the last difference (an
 * assertion error showing both), naming what it waited for.
 *
 * @example
 * await waitForEqual(() => stats(t), { users: 2 }, { what: 'both users counted' });
 */
export async function waitForEqual<T>(read: () => T | Promise<T>, expected: T, options: WaitForOptions): Promise<void> {
  let last: unknown;
  try {
    await waitFor(async () => {
      try {
        assert.deepStrictEqual(await read(), expected);
        return true;
      } catch (e) {
        last = e;
        return false;
      }
    }, options);
  } catch (e) {
    throw last instanceof Error ? Object.assign(last, { message: `${(e as Error).message}: ${last.message}` }) : e;
  }
}

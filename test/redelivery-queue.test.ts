/** The redelivery queue calls each session when its due time comes, never before, earliest first, with one timer. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Redeliverable, RedeliveryQueue } from '../hub/redelivery-queue.ts';
import type { StreamKey } from '../protocol/subjects.ts';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 1_000_000);

interface Call {
  readonly id: number;
  readonly due: number;
  readonly at: number;
}

function waitUntil(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(check, 5);
    };
    check();
  });
}

describe('RedeliveryQueue', { timeout: 60_000 }, () => {
  it(`calls every entry at or after its due time, in due order (fast-check seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 40 }), async (delays) => {
        const calls: Call[] = [];
        const queue = new RedeliveryQueue((e) => assert.fail(e));
        const start = Date.now();
        delays.forEach((delay, id) => {
          const due = start + delay;
          const target: Redeliverable = {
            redeliverDue: (_stream: StreamKey, now: number) => {
              calls.push({ id, due, at: now });
              return undefined;
            },
          };
          queue.schedule(target, 'site', due);
        });
        await waitUntil(() => calls.length === delays.length);
        queue.stop();
        for (const c of calls) assert.ok(c.at >= c.due, `entry ${c.id} called at ${c.at}, before its due time ${c.due}`);
        const dues = calls.map((c) => c.due);
        assert.deepEqual(dues, [...dues].sort((a, b) => a - b), 'earliest first');
        assert.equal(queue.size, 0);
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('reschedules a session that still has unacked events at the time it returns, and forgets one that has none', async () => {
    const queue = new RedeliveryQueue((e) => assert.fail(e));
    const at: number[] = [];
    const target: Redeliverable = {
      redeliverDue: (_stream, now) => {
        at.push(now);
        return at.length < 3 ? now + 20 : undefined;
      },
    };
    queue.schedule(target, 'user', Date.now() + 10);
    await waitUntil(() => at.length === 3);
    assert.ok(at[1]! - at[0]! >= 20 && at[2]! - at[1]! >= 20, `called at ${at}`);
    assert.equal(queue.size, 0);
    queue.stop();
  });

  it('a session whose redelivery throws is reported; the others are still called', async () => {
    const errors: Error[] = [];
    const queue = new RedeliveryQueue((e) => errors.push(e));
    let called = false;
    queue.schedule({ redeliverDue: () => { throw new Error('broken session'); } }, 'site', Date.now());
    queue.schedule({ redeliverDue: () => { called = true; return undefined; } }, 'site', Date.now());
    await waitUntil(() => called);
    assert.equal(errors[0]?.message, 'broken session');
    queue.stop();
  });
});

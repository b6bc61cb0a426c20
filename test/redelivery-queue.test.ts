/**
 * The redelivery queue calls each session when its due time comes, never before, earliest first, with one timer.
 * Time is a TestClock the test moves: no real waiting, and "never before" is exact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Redeliverable, RedeliveryQueue } from '../hub/redelivery-queue.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import { assertProperty } from './support/property.ts';
import { TestClock } from './support/test-clock.ts';

interface Call {
  readonly id: number;
  readonly due: number;
  readonly at: number;
}

describe('RedeliveryQueue', { timeout: 60_000 }, () => {
  it('calls every entry at its due time, never before, in due order, with one timer', () => {
    assertProperty(
      fc.property(fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 10 }), (delays, steps) => {
        const clock = new TestClock();
        const calls: Call[] = [];
        const queue = new RedeliveryQueue((e) => assert.fail(e), clock);
        const start = clock.now();
        delays.forEach((delay, id) => {
          const due = start + delay;
          const target: Redeliverable = {
            redeliverDue: (_stream: StreamKey, now: number) => {
              calls.push({ id, due, at: now });
              return undefined;
            },
          };
          queue.schedule(target, 'site', due);
          assert.equal(clock.pending, 1, 'one timer, for the earliest entry');
        });
        // Time moves in uneven steps; at each stop, exactly the entries due by then have been called.
        for (let i = 0; clock.now() - start <= 60; i++) {
          clock.advance(steps[i % steps.length]!);
          const dueByNow = delays.filter((d) => start + d <= clock.now()).length;
          assert.equal(calls.length, dueByNow, `at +${clock.now() - start} ms`);
          assert.ok(clock.pending <= 1, 'never more than one timer');
        }
        for (const c of calls) assert.equal(c.at, c.due, `entry ${c.id} called at ${c.at}, due at ${c.due}`);
        const dues = calls.map((c) => c.due);
        assert.deepEqual(dues, [...dues].sort((a, b) => a - b), 'earliest first');
        assert.equal(queue.size, 0);
        assert.equal(clock.pending, 0, 'no timer once nothing is waiting');
        queue.stop();
      }),
      { numRuns: 200 },
    );
  });

  it('reschedules a session that still has unacked events at the time it returns, and forgets one that has none', () => {
    const clock = new TestClock();
    const queue = new RedeliveryQueue((e) => assert.fail(e), clock);
    const start = clock.now();
    const at: number[] = [];
    const target: Redeliverable = {
      redeliverDue: (_stream, now) => {
        at.push(now - start);
        return at.length < 3 ? now + 20 : undefined;
      },
    };
    queue.schedule(target, 'user', start + 10);
    clock.advance(9);
    assert.deepEqual(at, []);
    clock.advance(100);
    assert.deepEqual(at, [10, 30, 50]);
    assert.equal(queue.size, 0);
    assert.equal(clock.pending, 0);
    queue.stop();
  });

  it('a session whose redelivery throws is reported; the others are still called', () => {
    const clock = new TestClock();
    const errors: Error[] = [];
    const queue = new RedeliveryQueue((e) => errors.push(e), clock);
    let called = false;
    queue.schedule({ redeliverDue: () => { throw new Error('broken session'); } }, 'site', clock.now());
    queue.schedule({ redeliverDue: () => { called = true; return undefined; } }, 'site', clock.now());
    clock.advance(0);
    assert.equal(called, true);
    assert.equal(errors[0]?.message, 'broken session');
    queue.stop();
  });

  it('stop cancels its timer and calls nobody after', () => {
    const clock = new TestClock();
    const queue = new RedeliveryQueue((e) => assert.fail(e), clock);
    let called = false;
    queue.schedule({ redeliverDue: () => { called = true; return undefined; } }, 'site', clock.now() + 5);
    queue.stop();
    assert.equal(clock.pending, 0);
    clock.advance(10);
    assert.equal(called, false);
  });

  it('runs on the system clock by default', async () => {
    const queue = new RedeliveryQueue((e) => assert.fail(e));
    const due = Date.now() + 5;
    // The queue's timers are unref'd (they must not hold the hub open): this one keeps the test's event loop alive.
    const keepAlive = setTimeout(() => {}, 5000);
    const calledAt = await new Promise<number>((resolve) => queue.schedule({ redeliverDue: (_s, now) => (resolve(now), undefined) }, 'site', due));
    clearTimeout(keepAlive);
    assert.ok(calledAt >= due, `called at ${calledAt}, due at ${due}`);
    queue.stop();
  });
});

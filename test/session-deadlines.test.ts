/**
 * A session's times on the hub's clock: warned before its token expires, closed at expiry (4402) or after
 * the idle timeout (4408); activity moves the idle deadline without rescheduling, a refresh moves the expiry
 * either way. Time is a TestClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HubConfig } from '../hub/config.ts';
import { HubMetrics } from '../hub/metrics.ts';
import type { Session } from '../hub/session.ts';
import { SessionDeadlines } from '../hub/session-deadlines.ts';
import { TestClock } from './support/test-clock.ts';

const config = { idleTimeoutMs: 1000, tokenWarningMs: 200 } as HubConfig;

class FakeSession {
  closed = false;
  expiryWarned = false;
  deadlineAt = 0;
  readonly sent: unknown[] = [];
  closedWith: [number, number] | undefined;
  constructor(
    readonly clock: TestClock,
    public lastSeen: number,
    public grant: { expiresAt?: number },
  ) {}
  send(frame: unknown): void {
    this.sent.push(frame);
  }
  end(code: number): void {
    this.closed = true;
    this.closedWith = [code, this.clock.now()];
  }
}

function setup() {
  const clock = new TestClock();
  const deadlines = new SessionDeadlines(config, new HubMetrics(), clock, (e) => assert.fail(e));
  const session = (expiresAt?: number) => new FakeSession(clock, clock.now(), { expiresAt });
  const schedule = (s: FakeSession) => deadlines.schedule(s as unknown as Session);
  return { clock, session, schedule };
}

describe('SessionDeadlines', () => {
  it('closes a silent session after the idle timeout and not at it; activity pushes it back', () => {
    const { clock, session, schedule } = setup();
    const start = clock.now();
    const quiet = session();
    const busy = session();
    schedule(quiet);
    schedule(busy);
    clock.advance(900);
    busy.lastSeen = clock.now();
    clock.advance(100);
    assert.equal(quiet.closed, false, 'at the timeout: not yet');
    clock.advance(1);
    assert.deepEqual(quiet.closedWith, [4408, start + 1001]);
    clock.advance(899);
    assert.equal(busy.closed, false, 'active 900 ms in: still open');
    clock.advance(2);
    assert.deepEqual(busy.closedWith, [4408, start + 1901]);
  });

  it('warns once before expiry and closes at it; a refresh to an earlier expiry takes effect, the old deadline is dropped', () => {
    const { clock, session, schedule } = setup();
    const start = clock.now();
    const s = session(start + 600);
    schedule(s);
    clock.advance(399);
    assert.deepEqual(s.sent, []);
    clock.advance(1);
    assert.deepEqual(s.sent, [['auth:expiring', { expiresAt: start + 600 }]]);
    // A refreshed token expiring sooner (inside its warning time already): warned at once, closed at its expiry.
    s.lastSeen = clock.now();
    s.grant = { expiresAt: start + 500 };
    s.expiryWarned = false;
    schedule(s);
    assert.deepEqual(s.sent.at(-1), ['auth:expiring', { expiresAt: start + 500 }]);
    clock.advance(100);
    assert.deepEqual(s.closedWith, [4402, start + 500]);
    clock.advance(1000);
    assert.equal(s.sent.length, 2, 'the superseded deadline did nothing');
    assert.equal(clock.pending, 0);
  });
});

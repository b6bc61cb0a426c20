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
  return { clock, session, schedule, deadlines };
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

  it('drops the entries of closed and refreshed sessions in bulk, not at their due time, and still closes the live ones on time', () => {
    const { clock, session, schedule, deadlines } = setup();
    const start = clock.now();
    const open = Array.from({ length: 5000 }, (_, i) => session(start + 500 + ((i * 37) % 400)));
    for (const s of open) schedule(s);
    // A reconnect storm: 4,000 of them close; 600 of the rest refresh their token to a later expiry.
    for (const s of open.slice(0, 4000)) {
      s.closed = true;
      deadlines.forget(s as unknown as Session);
    }
    for (const s of open.slice(4000, 4600)) {
      s.grant = { expiresAt: start + 950 };
      deadlines.reschedule(s as unknown as Session);
    }
    assert.ok(deadlines.pending < 2000, `closed sessions' entries dropped before their due time: ${deadlines.pending} pending`);
    clock.advance(1001);
    const live = open.slice(4000);
    assert.ok(live.every((s) => s.closedWith?.[0] === 4402), 'every live session closed at its expiry');
    assert.ok(open.slice(4000, 4600).every((s) => s.closedWith![1] === start + 950), 'refreshed sessions at their new expiry');
    assert.ok(open.slice(0, 4000).every((s) => s.closedWith === undefined && s.sent.length === 0), 'closed sessions untouched');
    assert.equal(deadlines.pending, 0);
  });
});

/**
 * Which send buffers the hub looks at: uWS says nothing per socket about topic traffic, so every socket is
 * looked at only when the bytes published to topics could have filled one; otherwise only the sockets that
 * were sent something by themselves, are slow, or wait for a drain.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferWatch } from '../hub/buffer-watch.ts';
import type { HubConfig } from '../hub/config.ts';
import { HubMetrics } from '../hub/metrics.ts';
import type { Session } from '../hub/session.ts';
import { overrunLookBytes, uwsBackpressureLimit } from '../hub/uws-backpressure.ts';

const BUDGET = 1000;
const config = { socketBudgetBytes: BUDGET, socketHardLimitBytes: 8 * BUDGET } as HubConfig;

/** A session as the watch sees it: its buffer, and what the watch did to it. */
class FakeSession {
  closed = false;
  slow = false;
  waitsForDrain = false;
  looked = 0;
  closedWith: number | undefined;
  constructor(public buffered: number) {}
  get bufferedAmount(): number {
    this.looked++;
    return this.buffered;
  }
  goSlow(): void {
    this.slow = true;
  }
  onDrain(buffered: number): void {
    if (this.slow && buffered < BUDGET / 2) this.slow = false;
  }
  end(code: number): void {
    this.closed = true;
    this.closedWith = code;
  }
}

function setup(n: number) {
  const sessions = Array.from({ length: n }, () => new FakeSession(0));
  const all = new Set(sessions as unknown as Session[]);
  return { sessions, all, watch: new BufferWatch(config, new HubMetrics()) };
}

describe('BufferWatch', () => {
  it('looks at no socket while topic traffic could not have filled one, and at every socket once it could', () => {
    const { sessions, all, watch } = setup(50);
    watch.published(BUDGET / 2);
    watch.check(all);
    assert.equal(sessions.reduce((n, s) => n + s.looked, 0), 0, 'half a budget published: nobody looked at');
    sessions[7]!.buffered = 2 * BUDGET; // a socket that stopped reading
    watch.published(BUDGET / 2 + 1);
    watch.check(all);
    assert.ok(sessions.every((s) => s.looked === 1), 'more than a budget published: every socket looked at');
    assert.equal(sessions[7]!.slow, true, 'over its budget: taken off the topics');
    // The slow one stays watched; the rest are not looked at again until traffic could fill them.
    watch.check(all);
    assert.equal(sessions[7]!.looked, 2);
    assert.equal(sessions.filter((s) => s.looked === 2).length, 1);
    sessions[7]!.buffered = 0;
    watch.check(all);
    assert.equal(sessions[7]!.slow, false, 'drained: back on the topics');
  });

  it('looks at a socket sent something by itself, and closes one past the hard limit with 4509', () => {
    const { sessions, all, watch } = setup(3);
    sessions[1]!.buffered = 9 * BUDGET;
    watch.watch(sessions[1] as unknown as Session);
    watch.check(all);
    assert.deepEqual(sessions.map((s) => s.looked), [0, 1, 0]);
    assert.equal(sessions[1]!.closedWith, 4509);
  });

  it('counts the fullest buffer it saw: a socket half full is found with half a budget more published', () => {
    const { sessions, all, watch } = setup(3);
    sessions[2]!.buffered = BUDGET / 2 + 10;
    watch.watch(sessions[2] as unknown as Session);
    watch.check(all);
    assert.equal(sessions[2]!.slow, false);
    sessions[2]!.buffered = BUDGET + 10;
    watch.published(BUDGET / 2);
    watch.check(all);
    assert.ok(sessions.every((s) => s.looked >= 1), 'the fullest buffer plus what was published could pass the budget');
    assert.equal(sessions[2]!.slow, true);
  });

  it('between two checks, before topic traffic could carry a socket to uWS\'s own limit, closes the sockets past the hard limit at once', () => {
    const { sessions, all, watch } = setup(3);
    watch.check(all);
    const hardLimit = config.socketHardLimitBytes;
    sessions[0]!.buffered = hardLimit + 1; // stopped reading: past the hard limit since the last check
    sessions[1]!.buffered = 2 * BUDGET; // over its budget only
    watch.published(overrunLookBytes(hardLimit));
    assert.equal(sessions[0]!.closedWith, undefined, 'not yet: no socket can be near uWS\'s limit');
    watch.published(1);
    assert.equal(sessions[0]!.closedWith, 4509, 'closed by the hub, with the code a client resumes from, not by uWS');
    assert.equal(sessions[1]!.closed, false);
    assert.equal(sessions[1]!.slow, false, 'going slow waits for the check');
    assert.ok(hardLimit + 2 * overrunLookBytes(hardLimit) <= uwsBackpressureLimit(hardLimit), 'half the room between the limits is left as margin');
  });
});

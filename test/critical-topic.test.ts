/**
 * A critical topic's record, shared by its acking members: offsets published on it fall due an ack timeout
 * later, and each member is then told the newest offset due, once, if it joined before it. Time is a TestClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CriticalMember } from '../hub/critical-topic.ts';
import { CriticalTopics } from '../hub/critical-topics.ts';
import { RedeliveryQueue } from '../hub/redelivery-queue.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import { TestClock } from './support/test-clock.ts';

const TIMEOUT = 100;

class Member implements CriticalMember {
  readonly owed: Array<[StreamKey, number, number]> = [];
  constructor(readonly clock: TestClock) {}
  owe(stream: StreamKey, upTo: number): void {
    this.owed.push([stream, upTo, this.clock.now()]);
  }
}

function setup() {
  const clock = new TestClock();
  const queue = new RedeliveryQueue((e) => assert.fail(e), clock);
  return { clock, queue, topics: new CriticalTopics(queue, TIMEOUT) };
}

describe('CriticalTopic', () => {
  it('tells each member the newest offset due, at its due time and not before, once per due time', () => {
    const { clock, queue, topics } = setup();
    const early = new Member(clock);
    const late = new Member(clock);
    const start = clock.now();
    topics.join('site/1/alarm', 'site', early, 10);
    topics.published('site/1/alarm', 11, clock.now());
    clock.advance(30);
    topics.join('site/1/alarm', 'site', late, 11);
    topics.published('site/1/alarm', 15, clock.now());
    topics.published('site/1/alarm', 16, clock.now());
    clock.advance(TIMEOUT - 31);
    assert.deepEqual(early.owed, [], 'nothing before its ack timeout');
    clock.advance(1);
    assert.deepEqual(early.owed, [['site', 11, start + TIMEOUT]]);
    assert.deepEqual(late.owed, [], 'joined after offset 11: never sent it');
    clock.advance(30);
    // 15 and 16 fall due together: the newest stands for both (acks are cumulative).
    assert.deepEqual(early.owed.at(-1), ['site', 16, start + 30 + TIMEOUT]);
    assert.deepEqual(late.owed, [['site', 16, start + 30 + TIMEOUT]]);
    assert.equal(queue.size, 0, 'nothing left to fall due');
    assert.equal(clock.pending, 0);
  });

  it('knows what it sent a member since it joined (the most an ack may cover), and forgets a member that left', () => {
    const { clock, topics } = setup();
    const m = new Member(clock);
    topics.join('user/ann', 'user', m, 40);
    topics.join('global/system', 'global', m, 7);
    assert.equal(topics.sentTo(m, ['user/ann', 'global/system'], 'user'), 0, 'nothing published since it joined');
    topics.published('user/ann', 41, clock.now());
    topics.published('global/system', 9, clock.now());
    assert.equal(topics.sentTo(m, ['user/ann', 'global/system'], 'user'), 41);
    assert.equal(topics.sentTo(m, ['user/ann', 'global/system'], 'global'), 9);
    assert.deepEqual(topics.leave('user/ann', m), { last: 41, joinedAt: 40 });
    assert.equal(topics.sentTo(m, ['user/ann'], 'user'), 0);
    clock.advance(TIMEOUT);
    assert.deepEqual(m.owed, [['global', 9, clock.now()]], 'a topic it left no longer asks it');
  });

  it('costs nothing for topics no acking socket is on', () => {
    const { clock, queue, topics } = setup();
    topics.published('site/2/alarm', 5, clock.now());
    assert.equal(queue.size, 0);
    assert.equal(clock.pending, 0);
  });
});

/**
 * The replayer against the in-memory event log (test/support/memory-log.ts): the seam is real,
 * the resume → live hand-over and its pacing hold on any EventLog. The JetStream one is covered
 * by test/resume.test.ts, test/faults.test.ts, test/cluster.test.ts and the rest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAppend } from '../protocol/event-append.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import type { Grant } from '../hub/grant.ts';
import type { LiveEvent } from '../hub/live-event.ts';
import { HubMetrics } from '../hub/metrics.ts';
import { RecentEvents } from '../hub/recent-events.ts';
import { LogUnavailable, type CatchUpSession, Replayer, ResumeCancelled } from '../hub/replayer.ts';
import type { SubscriptionState } from '../hub/subscription-states.ts';
import { subscriptionState } from '../hub/subscription-states.ts';
import { siteSubscription } from '../hub/subscription.ts';
import { MemoryLog } from './support/memory-log.ts';
import { TestClock } from './support/test-clock.ts';

const NS = 'memlog';

/** A socket as a catch-up sees it: everything sent is recorded; it is full at `budget` events until the test drains it. */
class TestSocket implements CatchUpSession {
  readonly grant = { userKey: 'u1' } as Grant;
  readonly received: number[] = [];
  readonly live: SubscriptionState[] = [];
  closed = false;
  drains = 0;
  #buffered = 0;
  #waiters: (() => void)[] = [];
  readonly #budget: number;

  constructor(budget: number) {
    this.#budget = budget;
  }

  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  joinLive(state: SubscriptionState): void {
    state.live = true;
    this.live.push(state);
  }

  receives(state: SubscriptionState, event: LiveEvent): boolean {
    return event.stream === state.sub.stream && event.owner === '7';
  }

  receivesCritical(): boolean {
    return false;
  }

  deliver(event: LiveEvent): boolean {
    this.received.push(event.seq);
    this.#buffered++;
    return true;
  }

  roomFor(): Promise<void> | undefined {
    return undefined;
  }

  replayFull(): boolean {
    return this.#buffered >= this.#budget;
  }

  drained(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** uWS's drain: the buffer went out. */
  drain(): void {
    this.#buffered = 0;
    this.drains++;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** The live side as the fan-out keeps it: the log's tail fills a recent window and reaches sockets that joined live. */
async function liveWindow(log: MemoryLog, sockets: TestSocket[], capacity: number) {
  const recent = new RecentEvents(capacity, await log.lastOffset('site'));
  const tail = log.tail('site', () => recent.last + 1, (offset, event) => {
    if (offset <= recent.last) return;
    if (event === undefined) return recent.skip(offset);
    recent.push(event);
    for (const s of sockets) if (s.live.some((state) => s.receives(state, event))) s.deliver(event);
  });
  await tail.start();
  const epochs = { site: log.epoch('site'), user: log.epoch('user'), global: log.epoch('global') };
  return { recent: (_stream: StreamKey) => recent, epochs, tail };
}

let n = 0;
function append(log: MemoryLog, siteId: string, count: number): Promise<unknown> {
  const appends = [];
  for (let i = 0; i < count; i++) appends.push(log.append(buildAppend(NS, { event: 'task:update', siteId, data: { n: ++n } }), `id-${n}`));
  return Promise.all(appends);
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Given a log of 30 events of site 7 and 10 of site 8, a live window of 10, and a socket that takes 4 events per drain. */
async function given() {
  const log = new MemoryLog(NS, new TestClock());
  for (let i = 0; i < 10; i++) {
    await append(log, '7', 3);
    await append(log, '8', 1);
  }
  const socket = new TestSocket(4);
  const live = await liveWindow(log, [socket], 10);
  const replayer = new Replayer(log, NS, live, new HubMetrics());
  const state = subscriptionState(siteSubscription('7'));
  return { log, socket, live, replayer, state };
}

describe('replayer on an in-memory event log', () => {
  it('resumes from the log and the window, paced by drain, then hands over to live without a gap or a duplicate', async () => {
    const { log, socket, live, replayer, state } = await given();
    const wanted = (upTo: number) => Array.from({ length: upTo }, (_, i) => i + 1).filter((o) => o > 2 && o % 4 !== 0);
    let done = false;
    const resumed = replayer.resume(socket, state, { offset: 2, epoch: log.epoch('site') }).finally(() => (done = true));
    let rounds = 0;
    while (!done) {
      await turn();
      if (!socket.waiting) continue;
      // While the socket is full, live moves on: past the window's start too, so the log serves that stretch.
      if (rounds++ < 3) await append(log, '7', 6);
      socket.drain();
    }
    const result = await resumed;
    assert.equal(result.recovered, true);
    assert.equal(result.offset, 58);
    assert.ok(socket.drains >= 10, `paced: ${socket.drains} drains`);
    // Site 7's events are offsets 1..40 but every fourth (site 8), then 41..58.
    const upTo40 = wanted(40);
    assert.deepEqual(socket.received, [...upTo40, ...Array.from({ length: 18 }, (_, i) => 41 + i)]);

    await append(log, '7', 2);
    await append(log, '8', 1);
    await turn();
    assert.deepEqual(socket.received.slice(-2), [59, 60]);
    assert.equal(new Set(socket.received).size, socket.received.length, 'no duplicate');
    assert.equal(log.openReads, 0, 'every read finished');
    await live.tail.stop();
  });

  it('a resume from another epoch joins live at once and says recovered: false', async () => {
    const { socket, live, replayer, state } = await given();
    const result = await replayer.resume(socket, state, { offset: 2, epoch: 'older' });
    assert.deepEqual(result, { offset: 40, epoch: 'e1', recovered: false, replayed: 0 });
    assert.deepEqual(socket.received, []);
    assert.equal(state.live, true);
    await live.tail.stop();
  });

  it('a log that stops answering mid-read fails the resume with LogUnavailable and leaves no read open', async () => {
    const { log, socket, live, replayer, state } = await given();
    const resumed = replayer.resume(socket, state, { offset: 2, epoch: log.epoch('site') });
    const outcome = resumed.then(
      () => 'resolved',
      (e: Error) => e,
    );
    while (!socket.waiting) await turn();
    log.unavailable = true;
    socket.drain();
    const e = await outcome;
    assert.ok(e instanceof LogUnavailable, String(e));
    assert.equal(state.live, false);
    assert.equal(log.openReads, 0);
    await live.tail.stop();
  });

  it('a subscription cancelled while its replay waits on drain stops there, and leaves no read open', async () => {
    const { log, socket, live, replayer, state } = await given();
    const outcome = replayer.resume(socket, state, { offset: 2, epoch: log.epoch('site') }).then(
      () => 'resolved',
      (e: Error) => e,
    );
    while (!socket.waiting) await turn();
    const sent = socket.received.length;
    state.cancelled = true;
    socket.drain();
    assert.ok((await outcome) instanceof ResumeCancelled);
    assert.equal(socket.received.length, sent);
    assert.equal(log.openReads, 0);
    await live.tail.stop();
  });
});

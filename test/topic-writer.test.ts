/**
 * TopicWriter on its own: a recording stand-in for uWS's app (who listens where, what was published) and the
 * test clock, so "held until the window closes" and "flushed within the tick" need no real waiting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TemplatedApp } from 'uWebSockets.js';
import { decodeFrame, encodeEventFrame, type EventMeta, type Frame, framesOf } from '../protocol/codec.ts';
import { encodePayload } from '../protocol/codec.ts';
import { batchTopic, topicGroup, TopicWriter } from '../hub/topic-writer.ts';
import { TestClock } from './support/test-clock.ts';

/** What uWS would have sent: per topic, each published message in order. */
class RecordingApp {
  readonly members = new Map<string, number>();
  readonly published: Array<{ topic: string; message: Uint8Array | string; isBinary: boolean }> = [];

  numSubscribers(topic: string): number {
    return this.members.get(topic) ?? 0;
  }

  publish(topic: string, message: Uint8Array | string, isBinary: boolean): boolean {
    this.published.push({ topic, message: typeof message === 'string' ? message : message.slice(), isBinary });
    return true;
  }

  /** The frames the sockets of `topic` received, a batch unpacked. */
  framesTo(topic: string): Frame[] {
    return this.published.filter((p) => p.topic === topic).flatMap((p) => [...framesOf(decodeFrame(p.message, p.isBinary))]);
  }

  messagesTo(topic: string): number {
    return this.published.filter((p) => p.topic === topic).length;
  }
}

function setup(delayMs: number, listening: string[] = ['site/1', batchTopic('site/1'), 'site/2', batchTopic('site/2')]) {
  const app = new RecordingApp();
  for (const t of listening) app.members.set(t, 1);
  const clock = new TestClock();
  const writer = new TopicWriter(app as unknown as TemplatedApp, delayMs, clock);
  return { app, clock, writer };
}

const meta = (offset: number): EventMeta => ({ offset, ts: 1, stream: 'site', epoch: 'e', site: '1' });
const frame = (offset: number) => encodeEventFrame('msgpack', 'task:update', encodePayload({ id: offset }), meta(offset)) as Uint8Array;
const offsets = (frames: Frame[]) => frames.map((f) => (f[2] as EventMeta).offset);

describe('TopicWriter', () => {
  it('with delay 0 holds nothing past the tick: what one tick published goes out in one batch, in order, without a timer', async () => {
    const { app, clock, writer } = setup(0);
    for (let i = 1; i <= 3; i++) writer.publish('site/1', frame(i), true);
    assert.equal(app.published.length, 0, 'held while the tick runs');
    assert.equal(clock.pending, 0, 'no timer');
    await Promise.resolve();
    assert.equal(app.messagesTo(batchTopic('site/1')), 1, 'one message for the batch sockets');
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 2, 3]);
    assert.equal(app.messagesTo('site/1'), 3, 'single frames for the others');
    assert.deepEqual(offsets(app.framesTo('site/1')), [1, 2, 3]);
  });

  it('a lone frame goes to batch sockets as it is, byte for byte', async () => {
    const { app, writer } = setup(0);
    const f = frame(7);
    writer.publish('site/1', f, true);
    await Promise.resolve();
    assert.deepEqual(app.published.map((p) => [p.topic, Buffer.from(p.message as Uint8Array).equals(Buffer.from(f))]), [
      ['site/1', true],
      [batchTopic('site/1'), true],
    ]);
  });

  it('with a write delay pairs events that come closer than it: a window closes with the last event that can make it', () => {
    const { app, clock, writer } = setup(45);
    writer.publish('site/1', frame(1), true);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1], 'a first event, with nothing before it, waits for nothing');
    for (let offset = 2; offset <= 5; offset++) {
      clock.advance(40);
      writer.publish('site/1', frame(offset), true);
    }
    // Every 40 ms: 2 opens a window (due at 85 ms), 3 comes at 80 ms and the next would come after 85: out with 3.
    const batches = app.published.filter((p) => p.topic === batchTopic('site/1')).map((p) => offsets([...framesOf(decodeFrame(p.message, p.isBinary))]));
    assert.deepEqual(batches, [[1], [2, 3], [4, 5]]);
    assert.deepEqual(offsets(app.framesTo('site/1')), [1, 2, 3, 4, 5], 'single-frame sockets alike');
  });

  it('holds a burst until the delay has passed on the clock, window by window in the order they opened', () => {
    const { app, clock, writer } = setup(20);
    writer.publish('site/1', frame(1), true);
    writer.publish('site/2', frame(2), true);
    const sentAtOnce = app.published.length;
    writer.publish('site/1', frame(3), true);
    clock.advance(10);
    writer.publish('site/2', frame(4), true);
    writer.publish('site/2', frame(5), true);
    clock.advance(9);
    assert.equal(app.published.length, sentAtOnce, 'held');
    clock.advance(1);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 3], 'site/1 at 20 ms from its window\'s first frame');
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/2'))), [2], 'site/2 opened its window later');
    clock.advance(10);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/2'))), [2, 4, 5]);
    assert.equal(clock.pending, 0, 'nothing held, no timer left');
  });

  it('never reorders a topic: settle before a membership change and flush before a direct send keep the order of publishing', () => {
    const { app, clock, writer } = setup(50);
    // Events in a burst (no time between them) are held; the first of each site went out alone.
    writer.publish('site/1', frame(1), true);
    writer.publish('site/2', frame(2), true);
    writer.publish('site/1', frame(3), true);
    writer.publish('site/2', frame(4), true);
    writer.publish('site/1', frame(5), true);
    writer.settle('site/1');
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 3, 5], 'settle sends that topic now');
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/2'))), [2], 'and only that one');
    writer.publish('site/1', frame(6), true);
    writer.publish('site/2', frame(7), true);
    writer.flush();
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 3, 5, 6]);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/2'))), [2, 4, 7]);
    writer.publish('site/1', frame(8), true);
    clock.advance(50);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 3, 5, 6, 8]);
    assert.deepEqual(offsets(app.framesTo('site/1')), [1, 3, 5, 6, 8], 'single-frame sockets alike');
  });

  it('keeps a site\'s topics in one window: a socket in both gets normal and latest-value events in the order they came', async () => {
    const { app, writer } = setup(0, ['site/1', 'site/1/latest', batchTopic('site/1'), batchTopic('site/1/latest')]);
    writer.publish('site/1', frame(1), true);
    writer.publish('site/1', frame(2), true);
    writer.publish('site/1/latest', frame(3), true);
    writer.publish('site/1', frame(4), true);
    await Promise.resolve();
    const inBoth = (topics: string[]) => offsets(app.published.filter((p) => topics.includes(p.topic)).flatMap((p) => [...framesOf(decodeFrame(p.message, p.isBinary))]));
    assert.deepEqual(inBoth([batchTopic('site/1'), batchTopic('site/1/latest')]), [1, 2, 3, 4], 'batch sockets: runs per topic, in order');
    assert.deepEqual(inBoth(['site/1', 'site/1/latest']), [1, 2, 3, 4], 'single-frame sockets');
    assert.equal(app.messagesTo(batchTopic('site/1')), 2, 'the run [1, 2] as one message, then [4]');
  });

  it('groups a topic with its site: format prefix, latest-value and restricted-event variants', () => {
    for (const t of ['site/7', 'j:site/7', 'site/7/latest', 'j:site/7/latest|vehicle:update', 'site/7|order:update']) assert.equal(topicGroup(t), 'site/7', t);
    assert.equal(topicGroup('global'), 'global');
    assert.equal(topicGroup('user/ann'), 'user/ann');
  });

  it('publishes nothing to a variant nobody listens to, and builds JSON batches as text', async () => {
    const { app, writer } = setup(0, ['j:site/1', batchTopic('j:site/1')]);
    assert.equal(writer.listened('site/1'), false);
    assert.equal(writer.listened('j:site/1'), true);
    writer.publish('j:site/1', '["task:update",{"id":1},{"offset":1}]', false);
    writer.publish('j:site/1', '["task:update",{"id":2},{"offset":2}]', false);
    await Promise.resolve();
    const batch = app.published.find((p) => p.topic === batchTopic('j:site/1'))!;
    assert.equal(batch.message, '["batch",[["task:update",{"id":1},{"offset":1}],["task:update",{"id":2},{"offset":2}]]]');
    assert.equal(batch.isBinary, false);
    app.members.delete(batchTopic('j:site/1'));
    writer.publish('j:site/1', '["task:update",{"id":3},{"offset":3}]', false);
    await Promise.resolve();
    assert.equal(app.messagesTo(batchTopic('j:site/1')), 1, 'no batch once its sockets left');
  });

  it('closes a window early once it holds the most frames it may', () => {
    const app = new RecordingApp();
    for (const t of ['site/1', batchTopic('site/1')]) app.members.set(t, 1);
    const clock = new TestClock();
    const writer = new TopicWriter(app as unknown as TemplatedApp, 50, clock, 2);
    writer.publish('site/1', frame(1), true);
    clock.advance(5);
    writer.publish('site/1', frame(2), true);
    clock.advance(5);
    writer.publish('site/1', frame(3), true);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 2, 3], 'sent with the second frame of the window, 45 ms before its close');
    writer.publish('site/1', frame(4), true);
    clock.advance(49);
    assert.equal(app.messagesTo(batchTopic('site/1')), 2, 'the next window is a window of its own');
    clock.advance(1);
    assert.deepEqual(offsets(app.framesTo(batchTopic('site/1'))), [1, 2, 3, 4]);
  });

  it('flushes a topic at once when it holds 64 KiB, so a burst never builds one huge message', () => {
    const { app, writer } = setup(1000);
    const big = new Uint8Array(20 * 1024);
    for (let i = 0; i < 4; i++) writer.publish('site/1', big, true);
    assert.equal(app.messagesTo(batchTopic('site/1')), 1, 'the fourth frame passed 64 KiB');
  });
});

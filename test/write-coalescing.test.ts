/**
 * Write coalescing against a real hub: HUB_WRITE_DELAY_MS on a clock the test moves, so the frames a topic
 * gets are held until the test says the delay has passed. Sockets that offer `hub.opt.batch` get them in one
 * message; raw sockets that do not get each frame as before, byte for byte the frame they always got.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { BATCH_SUBPROTOCOL, type EventMeta, type Frame, framesOf } from '../protocol/codec.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { TestClock } from './support/test-clock.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { scrapedCounter } from './support/scraped-counter.ts';
import { waitFor } from './support/wait-for.ts';
import { AUTH_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from '../protocol/codec.ts';

const DELAY_MS = 1000;

/** Events the hub has taken from the log (counted before they are handed to the sockets). */
function eventsTaken(t: TestHub): Promise<number> {
  return scrapedCounter(t.httpUrl, 'hub_events_total');
}

const offsetsOf = (frames: readonly Frame[]) => frames.filter((f) => (f[2] as EventMeta | undefined)?.offset !== undefined).map((f) => (f[2] as EventMeta).offset);

describe(`write coalescing (HUB_WRITE_DELAY_MS=${DELAY_MS}, on a clock the test moves)`, () => {
  let t: TestHub;
  let pub: HubPublisher;
  const clock = new TestClock(Date.now());
  before(async () => {
    t = await startTestHub({ HUB_WRITE_DELAY_MS: String(DELAY_MS) }, {}, { clock });
    pub = await t.publisher();
  });
  after(() => t.stop());

  /**
   * A site's first event goes out at once (nothing came before it, so nothing says another is near); events
   * right behind it (the test's clock does not move) are held for the delay.
   */
  async function lead(site: number): Promise<number> {
    const before = await eventsTaken(t);
    const offset = await pub.sendTaskUpdate(site, { id: 'lead' });
    await waitFor(async () => (await eventsTaken(t)) > before, { what: 'the hub taking the lead event' });
    return offset;
  }

  /** Appends `n` task updates to a site and waits until the hub holds them. */
  async function appendHeld(site: number, n: number): Promise<number[]> {
    const before = await eventsTaken(t);
    const offsets: number[] = [];
    for (let i = 0; i < n; i++) offsets.push(await pub.sendTaskUpdate(site, { id: i, status: `s${i}` }));
    await waitFor(async () => (await eventsTaken(t)) >= before + n, { what: `the hub taking ${n} events from the log` });
    return offsets;
  }

  it('a socket offering hub.opt.batch gets a topic\'s frames in one message, in order; a raw socket without it gets single frames', async () => {
    const token = await t.token({ sub: 'raw', sites: [1] });
    const single = await RawSocket.connect(t.wsUrl, { token });
    const batched = await RawSocket.connect(t.wsUrl, { protocols: [SUBPROTOCOL.msgpack, BATCH_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX + token] });
    for (const s of [single, batched]) assert.equal((await s.exchange(['subscribe:site', { siteId: 1 }, 1]))[0], 'subscribed');
    const first = await lead(1);
    for (const s of [single, batched]) await s.next((f) => (f[2] as EventMeta | undefined)?.offset === first);
    const fromSingle = single.frames.length;
    const fromBatched = batched.frames.length;
    const offsets = await appendHeld(1, 3);
    assert.equal(single.frames.length, fromSingle, 'held until the delay passed');
    clock.advance(DELAY_MS);
    await single.next((f) => (f[2] as EventMeta | undefined)?.offset === offsets[2], { from: fromSingle });
    await batched.next((f) => f[0] === 'batch', { from: fromBatched });
    const singles = single.frames.slice(fromSingle);
    assert.deepEqual(singles.map((f) => f[0]), ['task:update', 'task:update', 'task:update'], 'one message per event, as without batches');
    assert.deepEqual(offsetsOf(singles), offsets);
    const messages = batched.frames.slice(fromBatched);
    assert.equal(messages.length, 1, 'one message');
    const inner = framesOf(messages[0]!);
    assert.deepEqual(offsetsOf(inner), offsets, 'in offset order');
    assert.deepEqual(inner.map((f) => f[1]), [0, 1, 2].map((i) => ({ id: i, status: `s${i}` })));
    assert.deepEqual(inner.map((f) => (f[2] as EventMeta).site), ['1', '1', '1'], 'each with its own meta');
    single.close();
    batched.close();
  });

  it('HubClient unpacks a batch: every event once, in order, with its meta', async () => {
    let messages = 0;
    // Counts the messages under HubClient, to show the events did come batched.
    class CountingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.on('message', () => messages++);
      }
    }
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'client', sites: [2] }), { WebSocket: CountingWebSocket as never });
    await r.client.subscribeSite(2);
    const first = await lead(2);
    await r.waitFor((x) => x.some((e) => e.meta?.offset === first));
    const before = messages;
    const offsets = await appendHeld(2, 5);
    clock.advance(DELAY_MS);
    await r.waitFor((x) => x.filter((e) => e.name === 'task:update').length === 6);
    const got = r.of('task:update').slice(1);
    assert.deepEqual(got.map((e) => e.meta?.offset), offsets);
    assert.deepEqual(got.map((e) => e.data.id), [0, 1, 2, 3, 4]);
    assert.ok(got.every((e) => e.meta?.stream === 'site' && e.meta.site === '2' && typeof e.meta.epoch === 'string'));
    assert.equal(messages - before, 1, 'the five events came in one message');
    r.close();
  });

  it('a socket that subscribes while frames are held gets none of them (its hand-over point is past them), and later ones once', async () => {
    const early = await Recorder.connect(t.wsUrl, await t.token({ sub: 'early', sites: [3] }));
    await early.client.subscribeSite(3);
    const held = await appendHeld(3, 2);
    // Joining flushes what the topic held to its members first: the late socket must not get events at or before its offset.
    const late = await Recorder.connect(t.wsUrl, await t.token({ sub: 'late', sites: [3] }));
    const reply = await late.client.subscribeSite(3);
    assert.equal(reply.offset, held[1]);
    await early.waitFor((x) => x.filter((e) => e.name === 'task:update').length === 2);
    const next = await appendHeld(3, 1);
    clock.advance(DELAY_MS);
    await late.waitFor((x) => x.some((e) => e.name === 'task:update'));
    await early.waitFor((x) => x.filter((e) => e.name === 'task:update').length === 3);
    await late.settle();
    assert.deepEqual(late.of('task:update').map((e) => e.meta?.offset), next);
    assert.deepEqual(early.of('task:update').map((e) => e.meta?.offset), [...held, ...next]);
    early.close();
    late.close();
  });

  it('a critical event does not overtake the site\'s held events: they go out first', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'critical', sites: [4] }));
    await r.client.subscribeSite(4);
    const held = await appendHeld(4, 2);
    const alarm = await pub.sendAlarmNotification({ id: 'A-1', siteId: 4, level: 'high', title: 'hot' });
    await r.waitFor((x) => x.some((e) => e.name === 'alarm:new'));
    assert.deepEqual(r.received.filter((e) => e.meta !== undefined).map((e) => e.meta!.offset), [...held, alarm], 'in offset order, without moving the clock');
    r.close();
  });
});

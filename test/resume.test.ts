/** Nothing lost: a client that was away gets exactly what it missed, in order, from any hub, across restarts. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { streamName } from '../protocol/subjects.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { freePort, OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 300, jitter: 0.2 };

/** Offsets of an event kind, in arrival order. */
function offsets(r: Recorder, name: string): number[] {
  return r.of(name).map((e) => e.meta!.offset);
}

async function appendTasks(pub: HubPublisher, site: number, n: number, from = 0): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await pub.sendTaskUpdate(site, { id: from + i, status: 'loading' }));
  return out;
}

describe('resume', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('a client offline while N events are appended gets exactly those N, in order, after a hub restart', async () => {
    // An explicit port: a port picked by the OS (0) cannot be re-bound while old connections linger in TIME_WAIT.
    const first = await startTestHub({}, { port: await freePort() });
    const ns = first.ns;
    const pub = await HubPublisher.connect({ servers: first.natsUrl, namespace: ns });
    cleanups.push(() => pub.close());
    const c = await Recorder.connect(first.wsUrl, await first.token({ sub: 'op', sites: [1] }), { reconnect: FAST_RECONNECT });
    cleanups.push(async () => c.close());
    await c.client.subscribeSite(1);
    const before = await appendTasks(pub, 1, 3);
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 3);

    await first.stop({ drop: false });
    const missed = await appendTasks(pub, 1, 50, 100);
    const second = await startTestHub({ HUB_NAMESPACE: ns }, { port: first.hub.port });
    cleanups.push(() => second.stop());

    await c.waitFor((r) => r.some((e) => e.name === 'recovered'), 10_000);
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 53, 10_000);
    const live = await appendTasks(pub, 1, 2, 200);
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 55);
    assert.deepEqual(offsets(c, 'task:update'), [...before, ...missed, ...live]);
    const recovered = c.of('recovered')[0]!.data;
    assert.equal(recovered.recovered, true);
    assert.equal(recovered.replayed, 50);
  });

  it('resumes on another hub instance: no sticky sessions', async () => {
    const a = await startTestHub();
    const b = await startTestHub({ HUB_NAMESPACE: a.ns });
    cleanups.push(() => b.stop(), () => a.stop({ drop: false }));
    const pub = await a.publisher();
    const c = await Recorder.connect([a.wsUrl, b.wsUrl], await a.token({ sub: 'roamer', sites: [4] }), { reconnect: FAST_RECONNECT });
    cleanups.push(async () => c.close());
    await c.client.subscribeSite(4);
    const before = await appendTasks(pub, 4, 2);
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 2);
    await a.hub.stop();
    const missed = await appendTasks(pub, 4, 30, 10);
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 32, 10_000);
    assert.deepEqual(offsets(c, 'task:update'), [...before, ...missed]);
  });

  it('hands over from replay to live without a gap or a duplicate while events keep arriving', async () => {
    // A tiny recent window forces the log path and window eviction during the resume.
    const t = await startTestHub({ HUB_RECENT_EVENTS: '16' });
    cleanups.push(() => t.stop());
    const pub = await t.publisher();
    const early = await appendTasks(pub, 9, 200);
    const token = await t.token({ sub: 'late', sites: [9] });
    const producing = appendTasks(pub, 9, 200, 1000);
    const raw = await RawSocket.connect(t.wsUrl, { token });
    raw.sendFrame(['subscribe:site', { siteId: 9, offset: early[9]!, epoch: await epochOf(t) }, 1]);
    const appended = await producing;
    const expected = [...early.slice(10), ...appended];
    await until(() => raw.frames.filter((f) => f[0] === 'task:update').length >= expected.length, 15_000);
    const got = raw.frames.filter((f) => f[0] === 'task:update').map((f) => (f[2] as { offset: number }).offset);
    assert.deepEqual(got, expected);
    const reply = raw.frames.find((f) => f[0] === 'subscribed')![1] as { recovered: boolean };
    assert.equal(reply.recovered, true);
    raw.ws.close();
  });

  it('answers recovered: false for another epoch and for offsets aged out of retention', async () => {
    const t = await startTestHub();
    cleanups.push(() => t.stop());
    const pub = await t.publisher();
    const offs = await appendTasks(pub, 3, 10);
    const token = await t.token({ sub: 'old', sites: [3] });

    const other = await RawSocket.connect(t.wsUrl, { token });
    other.sendFrame(['subscribe:site', { siteId: 3, offset: offs[2]!, epoch: 'not-this-one' }, 1]);
    await until(() => other.frames.some((x) => x[0] === 'subscribed'));
    assert.equal((other.frames.find((f) => f[0] === 'subscribed')![1] as { recovered: boolean }).recovered, false);
    other.ws.close();

    const nc = await connect({ servers: t.natsUrl });
    await (await jetstreamManager(nc)).streams.purge(streamName(t.ns, 'site'), { seq: offs[5]! });
    await nc.close();
    const aged = await RawSocket.connect(t.wsUrl, { token });
    aged.sendFrame(['subscribe:site', { siteId: 3, offset: offs[1]!, epoch: await epochOf(t) }, 1]);
    await until(() => aged.frames.some((x) => x[0] === 'subscribed'));
    const reply = aged.frames.find((f) => f[0] === 'subscribed')![1] as { recovered: boolean; replayed: number };
    assert.equal(reply.recovered, false);
    // What could still be delivered was: offsets from the purge point on.
    assert.deepEqual(
      aged.frames.filter((f) => f[0] === 'task:update').map((f) => (f[2] as { offset: number }).offset),
      offs.slice(5),
    );
    aged.ws.close();
  });

  it('a user offline across a hub restart gets unacked notifications and alarms on a new device, and not acked ones', async () => {
    const first = await startTestHub();
    const ns = first.ns;
    const pub = await HubPublisher.connect({ servers: first.natsUrl, namespace: ns });
    cleanups.push(() => pub.close());
    const token = await first.token({ sub: 'nightshift', sites: [1, 2], role: 'operator' });
    const phone = await Recorder.connect(first.wsUrl, token);
    await phone.client.subscribeAlarms();
    await phone.client.subscribeNotifications();
    await pub.sendUserNotification('nightshift', { title: 'seen' });
    await pub.sendAlarmNotification({ id: 'seen-alarm', siteId: 1 });
    await phone.waitFor((r) => r.some((e) => e.name === 'notification:new') && r.some((e) => e.name === 'alarm:new'));
    // close() sends the pending acks, then the close frame: once the hub has counted the socket gone, it has read them.
    phone.close();
    await until(() => first.hub.connections === 0);
    await first.stop({ drop: false });

    // Hours offline, compressed: events appended while no hub runs.
    await pub.sendUserNotification('nightshift', { title: 'missed 1' });
    await pub.sendAlarmNotification({ id: 'missed-alarm', siteId: 2 });
    await pub.sendAlarmNotification({ id: 'other-site', siteId: 77 });
    await pub.sendUserNotification('someone-else', { title: 'not yours' });
    await pub.sendUserNotification('nightshift', { title: 'missed 2' });
    await pub.sendGlobalNotification({ title: 'missed broadcast' });

    const second = await startTestHub({ HUB_NAMESPACE: ns });
    cleanups.push(() => second.stop());
    const laptop = await Recorder.connect(second.wsUrl, token);
    cleanups.push(async () => laptop.close());
    await laptop.client.subscribeAlarms();
    await laptop.client.subscribeNotifications();
    await laptop.waitFor((r) => r.filter((e) => e.name === 'notification:new').length >= 3 && r.some((e) => e.name === 'alarm:new'));
    // Later events of each log, live: anything the replay would wrongly add (another site's alarm, another user's
    // or an acked notification, a duplicate) comes before them.
    await pub.sendUserNotification('nightshift', { title: 'fence' });
    await pub.sendGlobalNotification({ title: 'fence broadcast' });
    await pub.sendAlarmNotification({ id: 'fence-alarm', siteId: 1 });
    await laptop.waitFor((r) => ['fence', 'fence broadcast', 'fence-alarm'].every((f) => r.some((e) => e.data?.title === f || e.data?.id === f)));
    assert.deepEqual(laptop.of('notification:new').map((e) => e.data.title).sort(), ['fence', 'fence broadcast', 'missed 1', 'missed 2', 'missed broadcast']);
    assert.deepEqual(laptop.of('alarm:new').map((e) => e.data.id), ['missed-alarm', 'fence-alarm']);
  });

  it('survives a NATS restart mid-stream: zero loss, zero duplicates', async () => {
    const nats = await OwnNatsServer.start();
    cleanups.push(() => nats.stop());
    const ns = uniqueNamespace();
    const t = await startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns });
    cleanups.push(() => t.stop({ drop: false }));
    const pub = await t.publisher();
    const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'steady', sites: [6] }), { reconnect: FAST_RECONNECT });
    cleanups.push(async () => c.close());
    await c.client.subscribeSite(6);
    const expected = await appendTasks(pub, 6, 20);
    await nats.kill();
    await nats.restart();
    for (let i = 0; i < 20; i++) {
      // A producer retries an append that failed while NATS was away; the msg id keeps it single.
      for (let attempt = 0; ; attempt++) {
        try {
          expected.push(await pub.sendTaskUpdate(6, { id: 500 + i }, { msgId: `after-restart-${i}` }));
          break;
        } catch (e) {
          if (attempt > 100) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length >= 40, 20_000);
    // One more, live: a duplicate from the reconnect would have come before it.
    expected.push(await pub.sendTaskUpdate(6, { id: 'fence' }));
    await c.waitFor((r) => r.some((e) => e.meta?.offset === expected.at(-1)));
    assert.deepEqual(offsets(c, 'task:update'), expected);
  });
});

const until = (check: () => boolean, timeoutMs = 5000) => waitFor(check, { timeoutMs, what: 'the condition' });

async function epochOf(t: TestHub): Promise<string> {
  const probe = await RawSocket.connect(t.wsUrl, { token: await t.token({ sub: 'probe', sites: '*' }) });
  probe.sendFrame(['subscribe:site', { siteId: 'probe' }, 1]);
  await until(() => probe.frames.some((x) => x[0] === 'subscribed'));
  const epoch = (probe.frames.find((f) => f[0] === 'subscribed')![1] as { epoch: string }).epoch;
  probe.ws.close();
  return epoch;
}

describe('HubClient.subscribeSite from a snapshot offset', () => {
  it('gets exactly the events after the given offset, then live, with no gap', async () => {
    const t = await startTestHub();
    try {
      const pub = await t.publisher();
      const before = await appendTasks(pub, 8, 5);
      const snapshotOffset = before[2]!;
      const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'viewer', sites: [8] }));
      const reply = await c.client.subscribeSite(8, { offset: snapshotOffset, epoch: await epochOf(t) });
      assert.equal(reply.recovered, true);
      const live = await appendTasks(pub, 8, 2, 50);
      await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length >= 4);
      // One more, live: an event replayed twice, or at or before the snapshot offset, would have come before it.
      live.push(...(await appendTasks(pub, 8, 1, 60)));
      await c.waitFor((r) => r.some((e) => e.meta?.offset === live.at(-1)));
      assert.deepEqual(offsets(c, 'task:update'), [...before.slice(3), ...live]);
      c.close();
    } finally {
      await t.stop();
    }
  });
});

describe('HubClient duplicates', () => {
  it('drops re-sent events of a site, but a site subscribed again after unsubscribing gets an older range again', async () => {
    const t = await startTestHub();
    try {
      const pub = await t.publisher();
      const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'again', sites: [9] }));
      const start = (await c.client.subscribeSite(9)) as { offset: number; epoch: string };
      const first = await appendTasks(pub, 9, 3);
      await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 3);
      // The same range asked for again while subscribed: every event is a re-send, none reaches the application.
      await c.client.subscribeSite(9, start);
      const marker = await pub.sendTaskUpdate(9, { id: 'marker' });
      await c.waitFor((r) => r.some((e) => e.meta?.offset === marker));
      assert.deepEqual(offsets(c, 'task:update'), [...first, marker]);
      // After unsubscribing, the application asks for the range again on purpose (a snapshot's offset): it gets it.
      await c.client.unsubscribeSite(9);
      await c.client.subscribeSite(9, start);
      await c.waitFor((r) => r.filter((e) => e.name === 'task:update').length === 8);
      assert.deepEqual(offsets(c, 'task:update'), [...first, marker, ...first, marker]);
      c.close();
    } finally {
      await t.stop();
    }
  });
});

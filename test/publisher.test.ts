/** HubPublisher: the seed's WebSocketService for backends, appending to the log and counting who is online. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HubClient, InvalidEventError } from '../protocol/index.ts';
import { AppendError, HubPublisher } from '../protocol/publisher.ts';
import { NATS_URL, uniqueNamespace } from './support/nats.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitForEqual } from './support/wait-for.ts';

/** Polls `read` until it returns `expected` (presence is written ~100 ms after a change); fails with the last value. */
const eventually = <T>(read: () => Promise<T>, expected: T, timeoutMs = 5000) => waitForEqual(read, expected, { timeoutMs, what: 'the counts', everyMs: 50 });

describe('HubPublisher', () => {
  let t: TestHub;
  let pub: HubPublisher;
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('resolves every seed method to the offset the event is delivered with, increasing within each log', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'offsets-user', sites: [4] }));
    await r.client.subscribeSite(4);
    await r.client.subscribeNotifications();
    const calls: Array<[name: string, stream: string, offset: Promise<number>]> = [];
    const call = (name: string, stream: string, offset: Promise<number>) => calls.push([name, stream, offset]);
    // One at a time, so the order of appends is the order of calls.
    call('alarm:new', 'site', pub.sendAlarmNotification({ id: 1, siteId: 4 }));
    await calls.at(-1)![2];
    for (const [name, stream, send] of [
      ['alarm:update', 'site', () => pub.sendAlarmUpdate({ id: 1, site_id: 4, status: 'acknowledged' })],
      ['production:update', 'site', () => pub.sendProductionUpdate(4, { volume: 12.5 })],
      ['task:update', 'site', () => pub.sendTaskUpdate(4, { id: 2 })],
      ['order:update', 'site', () => pub.sendOrderUpdate(4, { id: 3 })],
      ['vehicle:update', 'site', () => pub.sendVehicleUpdate(4, { plate: '京A12345' })],
      ['inventory:update', 'site', () => pub.sendInventoryUpdate(4, { cement: 30 })],
      ['dashboard:update', 'site', () => pub.sendDashboardUpdate(4, { kpi: 1 })],
      ['notification:new', 'user', () => pub.sendUserNotification('offsets-user', { title: 'private' })],
      ['notification:new', 'user', () => pub.sendUserNotification('offsets-user', { title: 'private 2' })],
      ['notification:new', 'global', () => pub.sendGlobalNotification({ title: 'everyone' })],
      ['system:message', 'global', () => pub.broadcastSystemMessage('restart tonight', 'warning')],
      ['system:message', 'global', () => pub.broadcastSystemMessage('default level')],
    ] as const) {
      call(name, stream, send());
      await calls.at(-1)![2];
    }
    const appended = await Promise.all(calls.map(async ([name, stream, offset]) => ({ name, stream, offset: await offset })));
    for (const stream of ['site', 'user', 'global']) {
      const offsets = appended.filter((a) => a.stream === stream).map((a) => a.offset);
      assert.ok(offsets.length >= 2);
      for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i]! > offsets[i - 1]!, `${stream} offsets increase: ${offsets}`);
    }
    await r.waitFor((rs) => rs.filter((e) => e.meta !== undefined).length >= appended.length);
    const delivered = r.received.filter((e) => e.meta !== undefined).map((e) => ({ name: e.name, stream: e.meta!.stream, offset: e.meta!.offset }));
    assert.deepEqual(delivered, appended);
    assert.equal(r.of('system:message')[1]!.data.level, 'info', 'broadcastSystemMessage defaults to level info');
    r.close();
  });

  it('stores an append retried with the same msgId once: same offset, delivered once', async () => {
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'dup-user', sites: [6] }));
    await r.client.subscribeSite(6);
    const first = await pub.sendOrderUpdate(6, { id: 'o-1', v: 1 }, { msgId: 'order-o-1-v1' });
    const retry = await pub.sendOrderUpdate(6, { id: 'o-1', v: 1 }, { msgId: 'order-o-1-v1' });
    assert.equal(retry, first);
    const other = await pub.sendOrderUpdate(6, { id: 'o-1', v: 1 }, { msgId: 'order-o-1-v1-again' });
    assert.ok(other > first, 'another msgId is another event');
    await r.waitFor((rs) => rs.filter((e) => e.name === 'order:update').length >= 2);
    await r.settle();
    assert.deepEqual(r.of('order:update').map((e) => e.meta?.offset), [first, other]);
    r.close();
  });

  it('rejects an alarm without siteId or site_id with InvalidEventError and appends nothing', async () => {
    const before = await pub.sendTaskUpdate(8, { marker: 'before' });
    await assert.rejects(pub.sendAlarmNotification({ id: 'orphan', title: 'no site' }), (e: unknown) => e instanceof InvalidEventError && /siteId or site_id/.test(e.message));
    await assert.rejects(pub.sendAlarmUpdate({ id: 'orphan', site_id: null }), InvalidEventError);
    await assert.rejects(pub.sendAlarmNotification(null as unknown as object), InvalidEventError);
    const afterwards = await pub.sendTaskUpdate(8, { marker: 'after' });
    assert.equal(afterwards, before + 1, 'no event was appended between the two markers');
  });

  it('rejects invalid site and user ids', async () => {
    for (const site of ['1.alarm', '*', '>', 'a b', '', -1, 1.5, Number.MAX_SAFE_INTEGER + 2, 'x'.repeat(65)]) {
      await assert.rejects(pub.sendTaskUpdate(site, { id: 1 }), (e: unknown) => e instanceof InvalidEventError && /siteId/.test(e.message), `site ${String(site)}`);
    }
    await assert.rejects(pub.sendAlarmNotification({ siteId: 'a.b' }), InvalidEventError);
    // Any user id of 1–128 characters is a user (an e-mail, a UUID: see userToken); none, or a longer one, is not.
    for (const user of ['', 'x'.repeat(129), -1, 'tab\there']) {
      await assert.rejects(pub.sendUserNotification(user, { title: 'x' }), (e: unknown) => e instanceof InvalidEventError && /userId/.test(e.message), `user ${String(user)}`);
    }
    await assert.rejects(pub.sendTaskUpdate(1, undefined), (e: unknown) => e instanceof InvalidEventError && /data is required/.test(e.message));
  });

  it('rejects system messages with an unknown level or no text', async () => {
    await assert.rejects(pub.broadcastSystemMessage('x', 'fatal' as 'error'), (e: unknown) => e instanceof InvalidEventError && /level "fatal"/.test(e.message));
    await assert.rejects(pub.broadcastSystemMessage('', 'info'), InvalidEventError);
    for (const level of ['info', 'success', 'warning', 'error', 'critical'] as const) assert.ok((await pub.broadcastSystemMessage(`level ${level}`, level)) > 0);
  });

  it('rejects data that readers could not decode back, before appending', async () => {
    await assert.rejects(pub.sendTaskUpdate(1, JSON.parse('{"__proto__": {"polluted": true}}')), (e: unknown) => e instanceof InvalidEventError && /__proto__/.test(e.message));
  });

  it('rejects data over the payload limit before appending', async () => {
    await assert.rejects(pub.sendDashboardUpdate(1, { blob: 'x'.repeat(1_100_000) }), (e: unknown) => e instanceof InvalidEventError && /over the 1000000 limit/.test(e.message));
  });

  it('refuses a namespace that is not name-safe', async () => {
    await assert.rejects(HubPublisher.connect({ servers: NATS_URL, namespace: 'plant.prod' }), TypeError);
  });

  it('fails an append to a namespace no hub runs in with an AppendError saying so', async () => {
    const ns = uniqueNamespace('nohub');
    const lonely = await HubPublisher.connect({ servers: NATS_URL, namespace: ns, timeoutMs: 2000 });
    try {
      await assert.rejects(lonely.sendTaskUpdate(1, { id: 1 }), (e: unknown) => {
        assert.ok(e instanceof AppendError, String(e));
        assert.match(e.message, new RegExp(`is a hub running with namespace "${ns}"\\?`));
        assert.match(e.message, new RegExp(`${ns}_site`));
        assert.ok(e.cause !== undefined);
        return true;
      });
    } finally {
      await lonely.close();
    }
  });

  it('counts online users, and users per site, and drops them after they disconnect', async () => {
    const counts = async () => ({ all: await pub.getOnlineUsersCount(), site1: await pub.getSiteOnlineUsersCount(1), site2: await pub.getSiteOnlineUsersCount('2'), site3: await pub.getSiteOnlineUsersCount(3) });
    await eventually(counts, { all: 0, site1: 0, site2: 0, site3: 0 });
    const open = async (sub: string, sites: number[]) => {
      const c = new HubClient({ url: t.wsUrl, token: await t.token({ sub, sites }), WebSocket });
      await c.connect();
      for (const s of sites) await c.subscribeSite(s);
      return c;
    };
    const alice1 = await open('alice', [1, 2]);
    const alice2 = await open('alice', [1]);
    const bob = await open('bob', [1]);
    const carol = await open('carol', []);
    await eventually(counts, { all: 3, site1: 2, site2: 1, site3: 0 });
    const stats = await pub.getOnlineStats();
    assert.equal(stats.connections, 4);
    assert.deepEqual(stats.sites['1'], { users: 2, connections: 3 });

    await alice1.unsubscribeSite(2);
    await eventually(counts, { all: 3, site1: 2, site2: 0, site3: 0 });
    alice1.close();
    await eventually(counts, { all: 3, site1: 2, site2: 0, site3: 0 });
    alice2.close();
    bob.close();
    await eventually(counts, { all: 1, site1: 0, site2: 0, site3: 0 });
    carol.close();
    await eventually(counts, { all: 0, site1: 0, site2: 0, site3: 0 });
  });
});

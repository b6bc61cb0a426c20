/** What a user sees: events reach exactly the sockets allowed to see them, with the seed's names and payloads intact. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HubPublisher } from '../protocol/publisher.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

describe('delivery', () => {
  let t: TestHub;
  let pub: HubPublisher;
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('delivers a site event to its subscribers and not to another site', async () => {
    const a = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ua', sites: [1] }));
    const b = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ub', sites: [2] }));
    await a.client.subscribeSite(1);
    await b.client.subscribeSite(2);
    const o1 = await pub.sendTaskUpdate(1, { id: 10, status: 'loading' });
    const o2 = await pub.sendTaskUpdate(2, { id: 20, status: 'returning' });
    await a.waitFor((r) => r.some((e) => e.name === 'task:update'));
    await b.waitFor((r) => r.some((e) => e.name === 'task:update'));
    await a.settle();
    assert.deepEqual(a.of('task:update').map((e) => [e.data, e.meta?.offset]), [[{ id: 10, status: 'loading' }, o1]]);
    assert.deepEqual(b.of('task:update').map((e) => [e.data, e.meta?.offset]), [[{ id: 20, status: 'returning' }, o2]]);
    a.close();
    b.close();
  });

  it('delivers every seed event name with its payload intact, offset and timestamp', async () => {
    const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'all-events', sites: [5] }));
    await c.client.subscribeSite(5);
    await c.client.subscribeNotifications();
    const payload = { n: 1, text: '搅拌站 <b>', nested: { list: [1, 2.5, null, true] } };
    const before = Date.now();
    await pub.sendAlarmNotification({ ...payload, siteId: 5 });
    await pub.sendAlarmUpdate({ ...payload, site_id: 5 });
    await pub.sendProductionUpdate(5, payload);
    await pub.sendTaskUpdate(5, payload);
    await pub.sendOrderUpdate(5, payload);
    await pub.sendVehicleUpdate(5, payload);
    await pub.sendInventoryUpdate(5, payload);
    await pub.sendDashboardUpdate(5, payload);
    await pub.sendUserNotification('all-events', payload);
    await pub.sendGlobalNotification(payload);
    await pub.broadcastSystemMessage('maintenance at 22:00', 'warning');
    await c.waitFor((r) => r.filter((e) => e.meta !== undefined).length >= 11);
    const names = c.received.filter((e) => e.meta !== undefined).map((e) => e.name);
    assert.deepEqual(names, ['alarm:new', 'alarm:update', 'production:update', 'task:update', 'order:update', 'vehicle:update', 'inventory:update', 'dashboard:update', 'notification:new', 'notification:new', 'system:message']);
    assert.deepEqual(c.of('alarm:new')[0]!.data, { ...payload, siteId: 5 });
    assert.deepEqual(c.of('production:update')[0]!.data, payload);
    const sys = c.of('system:message')[0]!.data;
    assert.equal(sys.message, 'maintenance at 22:00');
    assert.equal(sys.level, 'warning');
    assert.ok(typeof sys.timestamp === 'string');
    for (const e of c.received.filter((x) => x.meta !== undefined)) {
      assert.ok(Number.isInteger(e.meta!.offset) && e.meta!.offset > 0);
      assert.ok(e.meta!.ts >= before - 5000 && e.meta!.ts <= Date.now() + 5000);
    }
    c.close();
  });

  it('delivers a private notification only to that user, on every one of their sockets', async () => {
    const alice1 = await Recorder.connect(t.wsUrl, await t.token({ sub: 'alice' }));
    const alice2 = await Recorder.connect(t.wsUrl, await t.token({ sub: 'alice' }));
    const bob = await Recorder.connect(t.wsUrl, await t.token({ sub: 'bob' }));
    for (const r of [alice1, alice2, bob]) await r.client.subscribeNotifications();
    await pub.sendUserNotification('alice', { title: 'for alice' });
    await pub.sendUserNotification('bob', { title: 'for bob' });
    for (const r of [alice1, alice2, bob]) await r.waitFor((x) => x.some((e) => e.name === 'notification:new'));
    for (const r of [alice1, alice2, bob]) await r.settle();
    assert.deepEqual(alice1.of('notification:new').map((e) => e.data.title), ['for alice']);
    assert.deepEqual(alice2.of('notification:new').map((e) => e.data.title), ['for alice']);
    assert.deepEqual(bob.of('notification:new').map((e) => e.data.title), ['for bob']);
    for (const r of [alice1, alice2, bob]) r.close();
  });

  it('delivers broadcast notifications to every session subscribed to notifications, system messages to every session', async () => {
    const x = await Recorder.connect(t.wsUrl, await t.token({ sub: 'x', sites: [1] }));
    const y = await Recorder.connect(t.wsUrl, await t.token({ sub: 'y', sites: [] }), { format: 'json' });
    const z = await Recorder.connect(t.wsUrl, await t.token({ sub: 'z', sites: [1] }));
    await x.client.subscribeNotifications();
    await y.client.subscribeNotifications();
    await pub.sendGlobalNotification({ title: 'shift change' });
    await pub.sendUserNotification('z', { title: 'for z, not subscribed' });
    await pub.broadcastSystemMessage('evacuate', 'error');
    for (const r of [x, y, z]) {
      await r.waitFor((rs) => rs.some((e) => e.name === 'system:message'));
      assert.equal(r.of('system:message')[0]!.data.level, 'error');
    }
    for (const r of [x, y]) assert.deepEqual(r.of('notification:new').map((e) => e.data), [{ title: 'shift change' }]);
    // As in the seed: notifications only after subscribe:notifications.
    assert.deepEqual(z.of('notification:new'), []);
    for (const r of [x, y, z]) r.close();
  });

  it('stops delivering a site after unsubscribe:site', async () => {
    const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'u', sites: [3] }));
    await c.client.subscribeSite(3);
    await pub.sendOrderUpdate(3, { id: 1 });
    await c.waitFor((r) => r.some((e) => e.name === 'order:update'));
    const reply = await c.client.unsubscribeSite(3);
    assert.equal(reply.siteId, 3);
    await pub.sendOrderUpdate(3, { id: 2 });
    await pub.broadcastSystemMessage('marker', 'info');
    await c.waitFor((r) => r.some((e) => e.name === 'system:message'));
    assert.deepEqual(c.of('order:update').map((e) => e.data.id), [1]);
    c.close();
  });

  it('delivers the alarms of every granted site on subscribe:alarms, and none of other sites', async () => {
    const listed = await Recorder.connect(t.wsUrl, await t.token({ sub: 'op1', sites: [7, 8] }));
    const all = await Recorder.connect(t.wsUrl, await t.token({ sub: 'admin', sites: '*' }));
    await listed.client.subscribeAlarms();
    await all.client.subscribeAlarms();
    await all.client.subscribeSite(7); // must not duplicate alarms of site 7
    await pub.sendAlarmNotification({ id: 'a7', siteId: 7 });
    await pub.sendAlarmNotification({ id: 'a9', siteId: 9 });
    await pub.sendAlarmNotification({ id: 'a8', site_id: 8 });
    await all.waitFor((r) => r.filter((e) => e.name === 'alarm:new').length >= 3);
    await listed.waitFor((r) => r.filter((e) => e.name === 'alarm:new').length >= 2);
    for (const r of [listed, all]) await r.settle();
    assert.deepEqual(listed.of('alarm:new').map((e) => e.data.id), ['a7', 'a8']);
    assert.deepEqual(all.of('alarm:new').map((e) => e.data.id), ['a7', 'a9', 'a8']);
    listed.close();
    all.close();
  });

  it('answers ping with pong {timestamp}', async () => {
    const c = await Recorder.connect(t.wsUrl, await t.token({ sub: 'pinger' }));
    const pong = await c.client.ping();
    assert.ok(Math.abs(pong.timestamp - Date.now()) < 5000);
    c.close();
  });
});

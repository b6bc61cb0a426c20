/**
 * The seed's role-based filtering (按用户权限过滤消息): HUB_EVENT_ROLES names events
 * that only some roles receive, on both protocols, live and in replays, and a
 * refreshed token's roles apply at once. Events it does not name reach every role.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../hub/config.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { Recorder } from './support/recorder.ts';
import { SeedSocket } from './support/seed-socket.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

describe('event permissions by role (HUB_EVENT_ROLES)', () => {
  let t: TestHub;
  let pub: HubPublisher;
  const closers: Array<() => void> = [];
  before(async () => {
    t = await startTestHub({ HUB_EVENT_ROLES: 'order:update=sales,admin; alarm:update=supervisor' });
    pub = await t.publisher();
  });
  after(async () => {
    for (const c of closers) c();
    await t.stop();
  });

  it('native sessions get a restricted event only with an allowed role; other events reach every role', async () => {
    const operator = await Recorder.connect(t.wsUrl, await t.token({ sub: 'op', sites: [1], role: 'operator' }));
    const sales = await Recorder.connect(t.wsUrl, await t.token({ sub: 'sa', sites: [1], role: 'sales' }));
    const supervisor = await Recorder.connect(t.wsUrl, await t.token({ sub: 'su', sites: [1], role: 'supervisor' }));
    closers.push(() => operator.close(), () => sales.close(), () => supervisor.close());
    for (const r of [operator, sales, supervisor]) await r.client.subscribeSite(1);
    await pub.sendOrderUpdate(1, { id: 'o1' });
    await pub.sendAlarmUpdate({ id: 'a1', siteId: 1, status: 'cleared' });
    await pub.sendTaskUpdate(1, { id: 'fence' });
    for (const r of [operator, sales, supervisor]) await r.waitFor((rs) => rs.some((e) => e.name === 'task:update'));
    for (const r of [operator, sales, supervisor]) await r.settle();
    assert.deepEqual(operator.received.filter((e) => e.meta !== undefined).map((e) => e.name), ['task:update']);
    assert.deepEqual(sales.received.filter((e) => e.meta !== undefined).map((e) => e.name), ['order:update', 'task:update']);
    assert.deepEqual(supervisor.received.filter((e) => e.meta !== undefined).map((e) => e.name), ['alarm:update', 'task:update']);
  });

  it('a replay from an offset filters by role too', async () => {
    const first = await pub.sendOrderUpdate(2, { id: 'o2' });
    await pub.sendTaskUpdate(2, { id: 't2' });
    const operator = await Recorder.connect(t.wsUrl, await t.token({ sub: 'op2', sites: [2], role: 'operator' }));
    const admin = await Recorder.connect(t.wsUrl, await t.token({ sub: 'ad2', sites: [2], role: 'admin' }));
    closers.push(() => operator.close(), () => admin.close());
    const epoch = (await operator.client.subscribeSite(2)).epoch as string;
    await operator.client.unsubscribeSite(2);
    await operator.client.subscribeSite(2, { offset: first - 1, epoch });
    await admin.client.subscribeSite(2, { offset: first - 1, epoch });
    await operator.waitFor((rs) => rs.some((e) => e.name === 'task:update'));
    await admin.waitFor((rs) => rs.some((e) => e.name === 'task:update'));
    assert.deepEqual(operator.of('order:update'), []);
    assert.deepEqual(admin.of('order:update').map((e) => e.data.id), ['o2']);
  });

  it('Socket.IO clients are filtered the same way, and auth:refresh with a new role applies at once', async () => {
    const s = await SeedSocket.connect(t.wsUrl, await t.token({ sub: 'sio-op', sites: [3], role: 'operator' }));
    closers.push(() => s.close());
    await s.request('subscribe:site', { siteId: 3 }, 'subscribed');
    await pub.sendOrderUpdate(3, { id: 'hidden' });
    await pub.sendTaskUpdate(3, { id: 'fence-1' });
    await s.waitFor(() => s.of('task:update').length === 1);
    assert.deepEqual(s.of('order:update'), []);
    await s.request('auth:refresh', { token: await t.token({ sub: 'sio-op', sites: [3], role: 'sales' }) }, 'auth:refreshed');
    await pub.sendOrderUpdate(3, { id: 'shown' });
    await pub.sendTaskUpdate(3, { id: 'fence-2' });
    await s.waitFor(() => s.of('task:update').length === 2);
    assert.deepEqual(s.of('order:update').map((e) => e.data.id), ['shown']);
  });

  it('refuses a rule naming an unknown event or no role, naming the variable', () => {
    assert.throws(() => loadConfig({ HUB_JWT_SECRET: 'x'.repeat(32), HUB_EVENT_ROLES: 'orders=admin' }), (e: unknown) => e instanceof ConfigError && /HUB_EVENT_ROLES: "orders" is not an event name/.test(e.message));
    assert.throws(() => loadConfig({ HUB_JWT_SECRET: 'x'.repeat(32), HUB_EVENT_ROLES: 'order:update=' }), /needs at least one role/);
    assert.deepEqual([...loadConfig({ HUB_JWT_SECRET: 'x'.repeat(32), HUB_EVENT_ROLES: 'order:update=admin,sales' }).eventRoles], [['order:update', ['admin', 'sales']]]);
  });
});

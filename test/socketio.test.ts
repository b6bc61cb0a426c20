/**
 * The seed's front-end code, unchanged, against the hub: socket.io-client with its
 * default transports (long-polling, then the WebSocket upgrade) or WebSocket only,
 * the seed's commands and replies, every seed event with its payload as the producer
 * gave it, for exactly what the token grants.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { io } from 'socket.io-client';
import type { HubPublisher } from '../protocol/publisher.ts';
import { Recorder } from './support/recorder.ts';
import { refusal, SeedSocket } from './support/seed-socket.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

/** The seed's URL shape: `io('ws://host:port/ws', …)`. */
function seedUrl(t: TestHub): string {
  return t.wsUrl.replace(/^ws:/, 'ws:');
}

const until = (condition: () => boolean, timeoutMs = 10_000) => waitFor(condition, { timeoutMs, what: 'the condition' });


describe('socket.io face', () => {
  let t: TestHub;
  let pub: HubPublisher;
  const sockets: SeedSocket[] = [];
  const open = async (token: string | undefined, options: Parameters<typeof io>[1] = {}) => {
    const s = await SeedSocket.connect(seedUrl(t), token, options);
    sockets.push(s);
    return s;
  };
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
  });
  after(async () => {
    for (const s of sockets) s.close();
    await t.stop();
  });

  for (const transports of [undefined, ['websocket']] as const) {
    const label = transports === undefined ? 'default transports' : 'websocket only';
    const user = transports === undefined ? 'seed-default' : 'seed-websocket';
    it(`${label}: connected, subscribed, unsubscribed, pong, as the seed's gateway answered`, async () => {
      const s = await open(await t.token({ sub: user, sites: [1] }), transports === undefined ? {} : { transports: [...transports] });
      const connected = s.of('connected')[0]!;
      assert.equal(connected.data.message, 'connected');
      assert.equal(connected.data.clientId, s.socket.id);
      assert.deepEqual((await s.request('subscribe:site', { siteId: 1 }, 'subscribed')).data, { siteId: 1, message: 'subscribed to site 1' });
      assert.deepEqual((await s.request('subscribe:alarms', undefined, 'subscribed')).data, { channel: 'alarms', message: 'subscribed to alarms' });
      assert.deepEqual((await s.request('subscribe:notifications', undefined, 'subscribed')).data, { channel: 'notifications', message: 'subscribed to notifications' });
      const pong = await s.request('ping', undefined, 'pong');
      assert.ok(Math.abs(pong.data.timestamp - Date.now()) < 60_000);
      assert.deepEqual((await s.request('unsubscribe:site', { siteId: 1 }, 'unsubscribed')).data, { siteId: 1, message: 'unsubscribed from site 1' });
      // Long-polling first, then the upgrade, as socket.io-client does by default.
      await until(() => s.socket.io.engine.transport.name === 'websocket');
    });
  }

  it('every seed event reaches the right clients with its payload exactly as produced (no envelope)', async () => {
    const s1 = await open(await t.token({ sub: 'ev-1', sites: [11] }));
    const s2 = await open(await t.token({ sub: 'ev-2', sites: [12] }), { transports: ['websocket'] });
    // A client that never upgrades (a proxy that blocks WebSocket) is served by long-polling.
    const polling = await open(await t.token({ sub: 'ev-3', sites: [11] }), { transports: ['polling'] });
    await s1.request('subscribe:site', { siteId: 11 }, 'subscribed');
    await s2.request('subscribe:site', { siteId: 12 }, 'subscribed');
    await polling.request('subscribe:site', { siteId: 11 }, 'subscribed');
    for (const s of [s1, s2, polling]) await s.request('subscribe:notifications', undefined, 'subscribed');
    const payload = { n: 1, text: '搅拌站 <b>', nested: { list: [1, 2.5, null, true] } };
    await pub.sendAlarmNotification({ ...payload, siteId: 11 });
    await pub.sendAlarmUpdate({ ...payload, site_id: 11 });
    await pub.sendProductionUpdate(11, { type: 'batch_started', batch: { id: 7 } });
    await pub.sendTaskUpdate(11, payload);
    await pub.sendOrderUpdate(11, payload);
    await pub.sendVehicleUpdate(11, payload);
    await pub.sendInventoryUpdate(11, payload);
    await pub.sendDashboardUpdate(11, payload);
    await pub.sendTaskUpdate(12, { id: 'other site' });
    await pub.sendUserNotification('ev-1', { title: 'for ev-1' });
    await pub.sendUserNotification('ev-2', { title: 'for ev-2' });
    await pub.sendGlobalNotification({ title: 'everyone' });
    await pub.broadcastSystemMessage('maintenance at 22:00', 'warning');
    await s1.waitFor(() => s1.events.length >= 11);
    await s2.waitFor(() => s2.events.length >= 4);
    assert.deepEqual(
      s1.events.map((e) => e.name),
      ['alarm:new', 'alarm:update', 'production:update', 'task:update', 'order:update', 'vehicle:update', 'inventory:update', 'dashboard:update', 'notification:new', 'notification:new', 'system:message'],
    );
    await polling.waitFor(() => polling.events.length >= 10);
    assert.deepEqual(
      polling.events.map((e) => e.name),
      s1.events.map((e) => e.name).filter((_, i) => i !== 8), // all but ev-1's private notification
    );
    assert.equal(polling.socket.io.engine.transport.name, 'polling');
    assert.deepEqual(s1.of('alarm:new')[0]!.data, { ...payload, siteId: 11 });
    assert.deepEqual(s1.of('alarm:update')[0]!.data, { ...payload, site_id: 11 });
    assert.deepEqual(s1.of('production:update')[0]!.data, { type: 'batch_started', batch: { id: 7 } });
    assert.deepEqual(s1.of('task:update')[0]!.data, payload);
    assert.deepEqual(s1.of('notification:new').map((e) => e.data), [{ title: 'for ev-1' }, { title: 'everyone' }]);
    const sys = s1.of('system:message')[0]!.data;
    assert.equal(sys.message, 'maintenance at 22:00');
    assert.equal(sys.level, 'warning');
    assert.equal(typeof sys.timestamp, 'string');
    // Site 12's client got its own site, its own notification and the broadcasts; nothing of site 11 or ev-1.
    assert.deepEqual(
      s2.events.map((e) => [e.name, e.data.title ?? e.data.id ?? e.data.message]),
      [
        ['task:update', 'other site'],
        ['notification:new', 'for ev-2'],
        ['notification:new', 'everyone'],
        ['system:message', 'maintenance at 22:00'],
      ],
    );
    // Each event carries its recovery offset as the last argument; offsets only move forward.
    const offsets = s1.events.map((e) => e.offset!);
    assert.ok(offsets.every((o) => /^\d+\.\d+\.\d+@/.test(o)));
  });

  it('notifications, private and broadcast, come after subscribe:notifications, as in the seed; system messages always', async () => {
    const s = await open(await t.token({ sub: 'notes', sites: [1] }));
    await pub.sendUserNotification('notes', { title: 'before' });
    await pub.sendGlobalNotification({ title: 'broadcast before' });
    await pub.broadcastSystemMessage('first', 'info');
    await s.waitFor(() => s.of('system:message').length === 1);
    assert.deepEqual(s.of('notification:new'), []);
    await s.request('subscribe:notifications', undefined, 'subscribed');
    await pub.sendUserNotification('notes', { title: 'after' });
    await pub.sendGlobalNotification({ title: 'broadcast after' });
    await pub.broadcastSystemMessage('second', 'info');
    await s.waitFor(() => s.of('system:message').length === 2);
    assert.deepEqual(s.of('notification:new').map((e) => e.data.title), ['after', 'broadcast after']);
  });

  it('a token for site 1 never sees site 2: subscribing is refused with an exception, and no event leaks', async () => {
    const s = await open(await t.token({ sub: 'iso', sites: [21] }));
    const refused = await s.request('subscribe:site', { siteId: 22 }, 'exception');
    assert.equal(refused.data.code, 200);
    assert.match(refused.data.message, /site 22 is not in your token/);
    await s.request('subscribe:site', { siteId: 21 }, 'subscribed');
    await s.request('subscribe:alarms', undefined, 'subscribed');
    await pub.sendAlarmNotification({ id: 1, siteId: 22, title: 'not yours' });
    await pub.sendTaskUpdate(22, { id: 'not yours' });
    await pub.sendTaskUpdate(21, { id: 'yours' });
    await s.waitFor(() => s.of('task:update').length === 1);
    assert.deepEqual(s.events.map((e) => e.data.id), ['yours']);
  });

  it('the alarm feed (subscribe:alarms) carries the alarms of every granted site, once even with the site subscribed too', async () => {
    const s = await open(await t.token({ sub: 'feed', sites: [31, 32] }));
    const all = await open(await t.token({ sub: 'feed-admin', sites: '*' }));
    await s.request('subscribe:alarms', undefined, 'subscribed');
    await s.request('subscribe:site', { siteId: 31 }, 'subscribed');
    await all.request('subscribe:alarms', undefined, 'subscribed');
    await pub.sendAlarmNotification({ id: 1, siteId: 31, title: 'a31' });
    await pub.sendAlarmNotification({ id: 2, siteId: 32, title: 'a32' });
    await pub.sendAlarmNotification({ id: 3, siteId: 33, title: 'a33' });
    await all.waitFor(() => all.of('alarm:new').length === 3);
    await pub.broadcastSystemMessage('fence', 'info');
    await s.waitFor(() => s.of('system:message').length === 1);
    assert.deepEqual(s.of('alarm:new').map((e) => e.data.title), ['a31', 'a32']);
    assert.deepEqual(all.of('alarm:new').map((e) => e.data.title), ['a31', 'a32', 'a33']);
  });

  it('one event in the log reaches native HubClient and Socket.IO clients alike', async () => {
    const token = await t.token({ sub: 'both', sites: [41] });
    const native = await Recorder.connect(t.wsUrl, token);
    await native.client.subscribeSite(41);
    const s = await open(token);
    await s.request('subscribe:site', { siteId: 41 }, 'subscribed');
    const offset = await pub.sendOrderUpdate(41, { id: 9, status: 'confirmed' });
    await native.waitFor((r) => r.some((e) => e.name === 'order:update'));
    await s.waitFor(() => s.of('order:update').length === 1);
    assert.deepEqual(native.of('order:update')[0]!.data, { id: 9, status: 'confirmed' });
    assert.equal(native.of('order:update')[0]!.meta?.offset, offset);
    assert.deepEqual(s.of('order:update')[0]!.data, { id: 9, status: 'confirmed' });
    assert.ok(s.of('order:update')[0]!.offset!.startsWith(`${offset}.`));
    native.close();
  });

  it('an event stored with a payload no one can decode costs no client the events after it', async () => {
    const token = await t.token({ sub: 'garbled', sites: [71] });
    const native = await Recorder.connect(t.wsUrl, token);
    const json = await Recorder.connect(t.wsUrl, token, { format: 'json' });
    for (const r of [native, json]) {
      await r.client.subscribeSite(71);
      await r.client.subscribeAlarms();
    }
    const s = await open(token);
    await s.request('subscribe:site', { siteId: 71 }, 'subscribed');
    // Appended around the publisher, as a buggy producer would: 0xc1 is never valid msgpack.
    const nc = await connect({ servers: t.natsUrl });
    const js = jetstream(nc);
    await js.publish(`${t.ns}.site.71.alarm.raised`, new Uint8Array([0xc1, 0xc1]));
    await js.publish(`${t.ns}.site.71.task.updated`, new Uint8Array([0xc1]));
    await nc.close();
    await pub.sendAlarmNotification({ id: 'after', siteId: 71 });
    await pub.sendTaskUpdate(71, { id: 'after' });
    for (const r of [native, json]) await r.waitFor((rs) => rs.some((e) => e.name === 'task:update' && e.data?.id === 'after') && rs.some((e) => e.name === 'alarm:new' && e.data?.id === 'after'));
    await s.waitFor(() => s.of('task:update').some((e) => e.data.id === 'after') && s.of('alarm:new').some((e) => e.data.id === 'after'));
    native.close();
    json.close();
  });

  it('takes the token from auth.token, query.token or an Authorization header', async () => {
    const token = await t.token({ sub: 'token-places', sites: [1] });
    const fromQuery = await open(undefined, { query: { token } });
    assert.equal(fromQuery.of('connected').length, 1);
    const fromHeader = await open(undefined, { transports: ['polling'], extraHeaders: { Authorization: `Bearer ${token}` } });
    assert.equal(fromHeader.of('connected').length, 1);
  });

  it('a refused token is a connect_error that says why, with the close code in data.code', async () => {
    const none = await refusal(seedUrl(t), {});
    assert.equal(none.message, 'no token');
    assert.equal(none.data?.code, 4401);
    const bad = await refusal(seedUrl(t), { auth: { token: 'not-a-jwt' } });
    assert.equal(bad.message, 'malformed token');
    const expired = await refusal(seedUrl(t), { auth: { token: await t.token({ sub: 'old', expiresIn: Math.floor(Date.now() / 1000) - 10 }) } });
    assert.equal(expired.message, 'token expired');
    assert.equal(expired.data?.code, 4401);
    const wrongNamespace = await refusal(t.httpUrl, { auth: { token: await t.token({ sub: 'ns' }) } });
    assert.match(wrongNamespace.message, /namespace \/ws/);
  });

  it('bad input gets an exception and costs nothing else: bad arguments, unknown events; too many closes the socket', async () => {
    const s = await open(await t.token({ sub: 'garbage', sites: [1] }));
    assert.equal((await s.request('subscribe:site', { siteId: 'a.b' }, 'exception')).data.code, 103);
    assert.equal((await s.request('subscribe:site', null, 'exception')).data.code, 103);
    assert.equal((await s.request('no-such-event', { x: 1 }, 'exception')).data.code, 102);
    await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
    await pub.sendTaskUpdate(1, { id: 'still works' });
    await s.waitFor(() => s.of('task:update').length === 1);
    const disconnected = new Promise<string>((resolve) => s.socket.once('disconnect', resolve));
    for (let i = 0; i < 10; i++) s.socket.emit('no-such-event');
    assert.equal(await disconnected, 'io server disconnect');
  });

  it('online counts include Socket.IO users, per site too', async () => {
    const s = await open(await t.token({ sub: 'counted-sio', sites: [51] }));
    await s.request('subscribe:site', { siteId: 51 }, 'subscribed');
    const stats = async () => (await (await fetch(`${t.httpUrl}/api/stats/online`)).json()) as { users: number; sites: Record<string, { users: number }> };
    let seen = await stats();
    await waitFor(async () => (seen = await stats()).sites['51']?.users === 1, { everyMs: 100, what: 'the Socket.IO user counted on site 51' });
    assert.ok(seen.users >= 1);
    assert.ok(t.hub.connections >= 1);
  });
});

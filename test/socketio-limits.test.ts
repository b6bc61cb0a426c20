/**
 * The hub's limits and token rules hold on the Socket.IO face as on the native
 * protocol: per-user connections, origins, frame size, operation rate, token
 * expiry (warned, then disconnected) and refresh (revoked sites dropped).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import type { HubPublisher } from '../protocol/publisher.ts';
import { Recorder } from './support/recorder.ts';
import { refusal, SeedSocket } from './support/seed-socket.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';


describe('socket.io face: limits and tokens', () => {
  let t: TestHub;
  let pub: HubPublisher;
  const sockets: SeedSocket[] = [];
  const open = async (token: string, options: Parameters<typeof io>[1] = {}) => {
    const s = await SeedSocket.connect(t.wsUrl, token, options);
    sockets.push(s);
    return s;
  };
  before(async () => {
    t = await startTestHub({
      HUB_MAX_CONNECTIONS_PER_USER: '2',
      HUB_ALLOWED_ORIGINS: 'https://plant.example',
      HUB_MAX_FRAME_BYTES: '1024',
      HUB_COMMANDS_PER_SECOND: '5',
      HUB_TOKEN_WARNING_MS: '1500',
    });
    pub = await t.publisher();
  });
  after(async () => {
    for (const s of sockets) s.close();
    await t.stop();
  });

  it('refuses a connection past the per-user cap with 4429, counting native and Socket.IO connections together', async () => {
    const token = await t.token({ sub: 'capped', sites: [1] });
    const native = await Recorder.connect(t.wsUrl, token);
    await open(token);
    const e = await refusal(t.wsUrl, { auth: { token } });
    assert.equal(e.data?.code, 4429);
    assert.match(e.message, /at most 2 connections per user/);
    native.close();
  });

  it('refuses a browser origin outside the allow-list with 4403, and takes an allowed one', async () => {
    const token = await t.token({ sub: 'origin', sites: [1] });
    const e = await refusal(t.wsUrl, { auth: { token }, transports: ['websocket'], extraHeaders: { Origin: 'https://evil.example' } });
    assert.equal(e.data?.code, 4403);
    const ok = await open(token, { transports: ['websocket'], extraHeaders: { Origin: 'https://plant.example' } });
    assert.equal(ok.socket.connected, true);
  });

  it('closes the transport of a frame above HUB_MAX_FRAME_BYTES; the hub keeps serving', async () => {
    const s = await open(await t.token({ sub: 'big-frame', sites: [1] }), { transports: ['websocket'], reconnection: false });
    const closed = new Promise<string>((resolve) => s.socket.once('disconnect', resolve));
    s.socket.emit('subscribe:site', { siteId: 1, padding: 'x'.repeat(4096) });
    assert.equal(await closed, 'transport close');
    const other = await open(await t.token({ sub: 'after-big-frame', sites: [1] }));
    assert.equal((await other.request('ping', undefined, 'pong')).name, 'pong');
  });

  it('answers operations past HUB_COMMANDS_PER_SECOND with exception 300', async () => {
    const s = await open(await t.token({ sub: 'chatty', sites: [1] }));
    for (let i = 0; i < 12; i++) s.socket.emit('ping');
    await s.waitFor(() => s.of('exception').length > 0);
    assert.equal(s.of('exception')[0]!.data.code, 300);
  });

  it('warns before the token expires, then disconnects with exception 4402', async () => {
    const s = await open(await t.token({ sub: 'expiring', sites: [1], expiresIn: Math.floor(Date.now() / 1000) + 3 }));
    const gone = new Promise<string>((resolve) => s.socket.once('disconnect', resolve));
    await s.waitFor(() => s.of('auth:expiring').length === 1, 5000);
    assert.ok(typeof s.of('auth:expiring')[0]!.data.expiresAt === 'number');
    assert.equal(await gone, 'io server disconnect');
    assert.equal(s.of('exception').at(-1)!.data.code, 4402);
  });

  it('auth:refresh with fewer sites leaves the revoked site at once; its events stop', async () => {
    const s = await open(await t.token({ sub: 'refresher', sites: [61, 62] }));
    await s.request('subscribe:site', { siteId: 61 }, 'subscribed');
    await s.request('subscribe:site', { siteId: 62 }, 'subscribed');
    const refreshed = await s.request('auth:refresh', { token: await t.token({ sub: 'refresher', sites: [61] }) }, 'auth:refreshed');
    assert.deepEqual(refreshed.data.revokedSites, ['62']);
    assert.deepEqual(s.of('unsubscribed').at(-1)!.data, { siteId: '62', message: 'site 62 is no longer in your token', revoked: true });
    await pub.sendTaskUpdate(62, { id: 'revoked' });
    await pub.sendTaskUpdate(61, { id: 'kept' });
    await s.waitFor(() => s.of('task:update').length === 1);
    assert.deepEqual(s.of('task:update').map((e) => e.data.id), ['kept']);
    const wrongUser = await s.request('auth:refresh', { token: await t.token({ sub: 'someone-else', sites: [61] }) }, 'exception');
    assert.equal(wrongUser.data.code, 201);
  });
});

describe('socket.io face switched off (HUB_SOCKETIO=off)', () => {
  it('serves no /socket.io/ route; the native protocol works as before', async () => {
    const t = await startTestHub({ HUB_SOCKETIO: 'off' });
    try {
      const res = await fetch(`${t.httpUrl}/socket.io/?EIO=4&transport=polling`);
      assert.equal(res.status, 404);
      const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'native-only', sites: [1] }));
      await r.client.subscribeSite(1);
      r.close();
    } finally {
      await t.stop();
    }
  });
});

/** GET /api/stats/online and GET /healthz: what an operator watches. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HubClient } from '../protocol/index.ts';
import { OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { waitFor, waitForEqual } from './support/wait-for.ts';

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return { status: res.status, body: await res.json() };
}

/** Polls until the endpoint answers `expected` (closes and cross-hub entries land asynchronously). */
const eventually = (url: string, expected: unknown, timeoutMs = 5000) => waitForEqual(async () => (await getJson(url)).body, expected, { timeoutMs, what: url, everyMs: 50 });

async function open(t: TestHub, sub: string, sites: number[]): Promise<HubClient> {
  const c = new HubClient({ url: t.wsUrl, token: await t.token({ sub, sites }), WebSocket });
  await c.connect();
  for (const s of sites) await c.subscribeSite(s);
  return c;
}

describe('GET /api/stats/online', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub();
  });
  after(() => t.stop());

  it('counts nobody on a fresh hub', async () => {
    const { status, body } = await getJson(`${t.httpUrl}/api/stats/online`);
    assert.equal(status, 200);
    assert.deepEqual(body, { users: 0, connections: 0, hubs: 1, sites: {} });
  });

  it('counts unique users and connections, in total and per subscribed site, and forgets them after they leave', async () => {
    const url = `${t.httpUrl}/api/stats/online`;
    const alice1 = await open(t, 'alice', [1, 2]);
    const alice2 = await open(t, 'alice', [1]);
    const bob = await open(t, 'bob', [1]);
    const carol = await open(t, 'carol', []);
    await alice1.subscribeSite(1); // subscribing twice counts once
    await eventually(url, { users: 3, connections: 4, hubs: 1, sites: { '1': { users: 2, connections: 3 }, '2': { users: 1, connections: 1 } } });

    await alice1.unsubscribeSite(2);
    await eventually(url, { users: 3, connections: 4, hubs: 1, sites: { '1': { users: 2, connections: 3 } } });
    alice1.close();
    await eventually(url, { users: 3, connections: 3, hubs: 1, sites: { '1': { users: 2, connections: 2 } } });
    bob.close();
    await eventually(url, { users: 2, connections: 2, hubs: 1, sites: { '1': { users: 1, connections: 1 } } });
    alice2.close();
    carol.close();
    await eventually(url, { users: 0, connections: 0, hubs: 1, sites: {} });
  });

  it('does not count refused connections', async () => {
    const refused = new HubClient({ url: t.wsUrl, token: 'not-a-token', WebSocket });
    await assert.rejects(refused.connect());
    await eventually(`${t.httpUrl}/api/stats/online`, { users: 0, connections: 0, hubs: 1, sites: {} });
  });
});

describe('GET /api/stats/online across hubs of one namespace', () => {
  let a: TestHub;
  let b: TestHub;
  before(async () => {
    const ns = uniqueNamespace();
    a = await startTestHub({ HUB_NAMESPACE: ns });
    b = await startTestHub({ HUB_NAMESPACE: ns });
  });
  after(async () => {
    await b.stop({ drop: false });
    await a.stop();
  });

  it('adds up every hub, counting a user connected to two hubs once', async () => {
    const onA = await open(a, 'roaming', [5]);
    const onB = await open(b, 'roaming', [5]);
    const other = await open(b, 'local', [6]);
    const expected = { users: 2, connections: 3, hubs: 2, sites: { '5': { users: 1, connections: 2 }, '6': { users: 1, connections: 1 } } };
    await eventually(`${a.httpUrl}/api/stats/online`, expected);
    await eventually(`${b.httpUrl}/api/stats/online`, expected);
    onB.close();
    other.close();
    await eventually(`${a.httpUrl}/api/stats/online`, { users: 1, connections: 1, hubs: 2, sites: { '5': { users: 1, connections: 1 } } });
    onA.close();
  });
});

describe('GET /healthz', () => {
  it('answers 200 with NATS connected, JetStream reachable, native uWebSockets.js and the namespace', async () => {
    const t = await startTestHub();
    try {
      const { status, body } = await getJson(`${t.httpUrl}/healthz`);
      assert.equal(status, 200);
      assert.deepEqual(
        { status: body.status, nats: body.nats, jetstream: body.jetstream, uws: body.uws, namespace: body.namespace },
        { status: 'ok', nats: { connected: true }, jetstream: { reachable: true }, uws: 'native', namespace: t.ns },
      );
    } finally {
      await t.stop();
    }
  });

  it('answers 503 "degraded" while NATS is down, and 200 again once it is back', async () => {
    const nats = await OwnNatsServer.start();
    const t = await startTestHub({ NATS_URL: nats.url });
    try {
      assert.equal((await getJson(`${t.httpUrl}/healthz`)).status, 200);
      await nats.kill();
      // The hub learns of the loss when its socket closes; poll past that moment.
      let down = await getJson(`${t.httpUrl}/healthz`);
      await waitFor(async () => !(down = await getJson(`${t.httpUrl}/healthz`)).body.nats.connected, { everyMs: 100, what: '/healthz to report NATS disconnected' });
      assert.equal(down.status, 503);
      assert.equal(down.body.status, 'degraded');
      assert.deepEqual(down.body.jetstream, { reachable: false });
      assert.deepEqual(down.body.nats, { connected: false }, 'NATS is reported disconnected while it is down');
      await nats.restart();
      await waitFor(async () => (await getJson(`${t.httpUrl}/healthz`)).status === 200, { everyMs: 200, what: '/healthz 200 once NATS is back' });
    } finally {
      await t.stop({ drop: false });
      await nats.stop();
    }
  });
});

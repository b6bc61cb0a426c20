/**
 * Socket.IO's connection state recovery, backed by the log: a seed front-end
 * (socket.io-client's own reconnection, nothing added) that was away gets every
 * event it missed, once, in order, with `socket.recovered === true`: after a network
 * drop, across a hub restart, and coming back through another hub while a producer
 * runs. Where the log cannot cover the gap, `recovered` is false.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HubPublisher } from '../protocol/publisher.ts';
import { freePort, OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { SeedSocket } from './support/seed-socket.ts';
import { TcpProxy } from '../bench/tcp-proxy.ts';
import { signToken, startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

/** The `n` of every task:update a client got, in arrival order. */
function received(s: SeedSocket, site: number): number[] {
  return s.of('task:update').filter((e) => e.data.site === site).map((e) => e.data.n as number);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

const until = (condition: () => boolean, timeoutMs = 15_000) => waitFor(condition, { timeoutMs, what: 'the condition' });

describe('socket.io recovery from the log', () => {
  const sockets: SeedSocket[] = [];
  const hubs: TestHub[] = [];
  const proxies: TcpProxy[] = [];
  /** Whatever else a test opened, closed even when it fails (a live NATS connection would keep the file running). */
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups) await c().catch(() => {});
    for (const s of sockets) s.close();
    for (const p of proxies) await p.cut();
    for (const h of hubs) await h.stop().catch(() => {});
  });

  describe('on one hub', () => {
    let t: TestHub;
    let pub: HubPublisher;
    before(async () => {
      t = await startTestHub();
      hubs.push(t);
      pub = await t.publisher();
    });

    for (const transports of [undefined, ['websocket']] as const) {
      it(`a dropped connection (${transports === undefined ? 'default transports' : 'websocket only'}) recovers every missed event once, in order`, async () => {
        const proxy = await TcpProxy.start({ host: '127.0.0.1', port: t.hub.port });
        proxies.push(proxy);
        const s = await SeedSocket.connect(`ws://127.0.0.1:${proxy.port}/ws`, await t.token({ sub: 'drop', sites: [1] }), transports === undefined ? {} : { transports: [...transports] });
        sockets.push(s);
        await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
        await s.request('subscribe:alarms', undefined, 'subscribed');
        await s.request('subscribe:notifications', undefined, 'subscribed');
        const first = s.of('task:update').length;
        for (const n of range(0, 5)) await pub.sendTaskUpdate(1, { site: 1, n });
        await s.waitFor(() => s.of('task:update').length === first + 5);
        await proxy.cut();
        await until(() => !s.socket.connected);
        for (const n of range(5, 25)) await pub.sendTaskUpdate(1, { site: 1, n });
        await pub.sendAlarmNotification({ id: 77, siteId: 1, title: 'while away' });
        await pub.sendUserNotification('drop', { title: 'private, while away' });
        await pub.sendTaskUpdate(2, { site: 2, n: 0 }); // not this client's site
        await proxy.restore();
        await s.waitFor(() => s.of('alarm:new').some((e) => e.data.id === 77) && s.of('notification:new').some((e) => e.data.title === 'private, while away'));
        for (const n of range(25, 30)) await pub.sendTaskUpdate(1, { site: 1, n });
        await s.waitFor(() => received(s, 1).at(-1) === 29);
        assert.deepEqual(received(s, 1).slice(-30), range(0, 30));
        assert.deepEqual(received(s, 2), []);
        assert.equal(s.socket.recovered, true);
        assert.deepEqual(s.connects.slice(-2), [false, true]);
        await proxy.cut();
      });
    }

    it('subscribing again on reconnect, as the seed front-ends do, repeats nothing', async () => {
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: t.hub.port });
      proxies.push(proxy);
      const s = await SeedSocket.connect(`ws://127.0.0.1:${proxy.port}/ws`, await t.token({ sub: 'resub', sites: [3] }));
      sockets.push(s);
      // The seed's React hook subscribes on every `connected`.
      s.socket.on('connected', () => s.socket.emit('subscribe:site', { siteId: 3 }));
      await s.request('subscribe:site', { siteId: 3 }, 'subscribed');
      await pub.sendTaskUpdate(3, { site: 3, n: 0 });
      await s.waitFor(() => received(s, 3).length === 1);
      await proxy.cut();
      await until(() => !s.socket.connected);
      for (const n of range(1, 10)) await pub.sendTaskUpdate(3, { site: 3, n });
      await proxy.restore();
      await s.waitFor(() => s.of('connected').length === 2 && s.of('subscribed').length === 2);
      await pub.sendTaskUpdate(3, { site: 3, n: 10 });
      await s.waitFor(() => received(s, 3).at(-1) === 10);
      assert.deepEqual(received(s, 3), range(0, 11));
      assert.equal(s.socket.recovered, true);
      await proxy.cut();
    });

    it('a client that stops reading is closed at the hard limit, not skipped, and recovers everything once', async () => {
      const small = await startTestHub({ HUB_SOCKET_BUDGET_BYTES: '16384', HUB_SOCKET_HARD_LIMIT_BYTES: '65536' });
      hubs.push(small);
      const spub = await small.publisher();
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: small.hub.port });
      proxies.push(proxy);
      const s = await SeedSocket.connect(`ws://127.0.0.1:${proxy.port}/ws`, await small.token({ sub: 'slow', sites: [1] }), { transports: ['websocket'] });
      sockets.push(s);
      await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
      proxy.stall();
      // Far more than the socket, the proxy and the kernel buffers hold together.
      const filler = 'x'.repeat(8000);
      const total = 1500;
      // In batches: 1,500 appends at once can outwait the publisher's timeout on a loaded machine.
      for (let from = 0; from < total; from += 100) await Promise.all(range(from, Math.min(total, from + 100)).map((n) => spub.sendTaskUpdate(1, { site: 1, n, filler })));
      // The hub closes the socket at its hard limit; the client learns it once it reads again.
      await until(() => small.hub.connections === 0, 30_000);
      proxy.unstall();
      await s.waitFor(() => received(s, 1).length >= total, 30_000);
      assert.deepEqual(received(s, 1), range(0, total));
      assert.equal(s.socket.recovered, true);
      // Closed once: its recovery replay is paced under the hard limit, not closed for it again and again.
      const forced = (await small.hub.metrics.forcedCloses.get()).values.reduce((n, v) => n + v.value, 0);
      assert.equal(forced, 1, 'one forced close: the stalled socket, not the recovering one');
    });

    it('an offset from a log that was recreated is not recovered: recovered is false and the app refetches', async () => {
      const s = await SeedSocket.connect(t.wsUrl, await t.token({ sub: 'stale', sites: [1] }), { reconnection: false });
      sockets.push(s);
      await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
      // Forge what a client would hold after the log was recreated: other epochs.
      const socket = s.socket as unknown as { _pid?: string; _lastOffset?: string };
      assert.ok(socket._pid !== undefined && socket._lastOffset !== undefined, 'socket.io-client keeps a pid and an offset');
      socket._lastOffset = socket._lastOffset.replace(/@.*/, '@zzz.zzz.zzz');
      s.socket.disconnect().connect();
      await until(() => s.connects.length === 2);
      assert.equal(s.socket.recovered, false);
    });
  });

  describe('across hubs', () => {
    it('a hub restart while a producer appends: the client reconnects to the new hub process and misses nothing, repeats nothing', async () => {
      const ns = uniqueNamespace();
      const port = await freePort();
      const a = await startTestHub({ HUB_NAMESPACE: ns }, { port });
      hubs.push(a);
      const s = await SeedSocket.connect(`ws://127.0.0.1:${port}/ws`, await a.token({ sub: 'restart', sites: [1] }));
      sockets.push(s);
      await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
      // The producer is a service of its own: it outlives the hub.
      const producerPub = await HubPublisher.connect({ servers: a.natsUrl, namespace: ns });
      cleanups.push(() => producerPub.close());
      const total = 400;
      let appended = 0;
      const producer = (async () => {
        for (let n = 0; n < total; n++) {
          await producerPub.sendTaskUpdate(1, { site: 1, n });
          appended = n + 1;
        }
      })();
      await until(() => received(s, 1).length >= 50);
      await a.stop({ drop: false });
      await until(() => appended >= Math.min(total, received(s, 1).length + 50)); // appended while no hub runs
      const b = await startTestHub({ HUB_NAMESPACE: ns }, { port });
      hubs.push(b);
      await producer;
      await s.waitFor(() => received(s, 1).length >= total, 20_000);
      assert.deepEqual(received(s, 1), range(0, total));
      assert.equal(s.socket.recovered, true);
    });

    it('a client that connects while the hub is still reaching NATS is held or retried, never refused for good', async () => {
      const nats = await OwnNatsServer.start();
      await nats.kill();
      const port = await freePort();
      const starting = startTestHub({ NATS_URL: nats.url }, { port });
      const token = await signToken(TEST_SECRET, { sub: 'early', sites: [1] });
      // The hub listens before NATS answers; the seed client connects now.
      let s: SeedSocket | undefined;
      for (let i = 0; i < 100 && s === undefined; i++) {
        const probe = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false);
        if (probe) s = new SeedSocket(`ws://127.0.0.1:${port}/ws`, token);
        else await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(s !== undefined, 'the hub listens before it reaches NATS');
      sockets.push(s);
      const errors: string[] = [];
      s.socket.on('connect_error', (e) => errors.push(e.message));
      // NATS comes back once the client has reached the hub without it: its transport is open (held) or it was
      // turned away for now (retried).
      let reached = false;
      s.socket.io.on('open', () => (reached = true));
      await until(() => reached || s.socket.io.engine?.readyState === 'open' || errors.length > 0);
      await nats.restart();
      const hub = await starting;
      try {
        await s.waitFor((r) => r.some((e) => e.name === 'connected'), 20_000);
        assert.equal(s.socket.connected, true);
      } finally {
        s.close();
        await hub.stop();
        await nats.stop();
      }
    });

    it('a client recovering on a hub that is still reaching NATS waits for it and recovers', async () => {
      const nats = await OwnNatsServer.start();
      const port = await freePort();
      const ns = uniqueNamespace();
      const a = await startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns }, { port });
      const s = await SeedSocket.connect(`ws://127.0.0.1:${port}/ws`, await a.token({ sub: 'early-recovery', sites: [1] }));
      sockets.push(s);
      let b: TestHub | undefined;
      try {
        await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
        const pub = await a.publisher();
        await pub.sendTaskUpdate(1, { site: 1, n: 0 });
        await s.waitFor(() => received(s, 1).length === 1);
        await a.stop({ drop: false });
        await nats.kill();
        // The new hub listens, but NATS is down: the client reconnects to it and must wait, not start afresh.
        // NATS comes back once the client's transport has opened to the new hub.
        let reopened = false;
        s.socket.io.on('open', () => (reopened = true));
        const starting = startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns }, { port });
        await until(() => reopened);
        await nats.restart();
        b = await starting;
        const pub2 = await b.publisher();
        await pub2.sendTaskUpdate(1, { site: 1, n: 1 });
        await s.waitFor(() => received(s, 1).length === 2, 20_000);
        assert.deepEqual(received(s, 1), [0, 1]);
        assert.equal(s.socket.recovered, true);
      } finally {
        s.close();
        await b?.stop();
        await nats.stop();
      }
    });

    it('moving to another hub while a producer appends: 0 lost, 0 duplicated, in order', async () => {
      const ns = uniqueNamespace();
      const a = await startTestHub({ HUB_NAMESPACE: ns });
      const b = await startTestHub({ HUB_NAMESPACE: ns });
      hubs.push(a, b);
      const pub = await a.publisher();
      const proxy = await TcpProxy.start({ host: '127.0.0.1', port: a.hub.port });
      proxies.push(proxy);
      const clients = await Promise.all(
        range(0, 6).map(async (i) => {
          const s = await SeedSocket.connect(`ws://127.0.0.1:${proxy.port}/ws`, await a.token({ sub: `mover${i}`, sites: [1, 2] }), i % 2 === 0 ? {} : { transports: ['websocket'] });
          sockets.push(s);
          await s.request('subscribe:site', { siteId: 1 + (i % 2) }, 'subscribed');
          return s;
        }),
      );
      const total = 300;
      let stop = false;
      const producer = (async () => {
        for (let n = 0; n < total && !stop; n++) {
          await pub.sendTaskUpdate(1, { site: 1, n });
          await pub.sendTaskUpdate(2, { site: 2, n });
        }
      })();
      await until(() => clients.every((s, i) => received(s, 1 + (i % 2)).length >= 50));
      // The load balancer sends everyone to hub B.
      await proxy.cut();
      proxy.retarget({ host: '127.0.0.1', port: b.hub.port });
      await proxy.restore();
      await producer.finally(() => (stop = true));
      for (const [i, s] of clients.entries()) {
        await s.waitFor(() => received(s, 1 + (i % 2)).length >= total, 20_000);
        assert.deepEqual(received(s, 1 + (i % 2)), range(0, total), `client ${i}`);
        assert.equal(s.socket.recovered, true, `client ${i} recovered`);
      }
    });
  });
});

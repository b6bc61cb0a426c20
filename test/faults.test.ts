/**
 * Faults under load, with processes the test starts and kills itself: a hub
 * SIGKILLed under a thousand clients, NATS killed and restarted under a
 * producer, a producer whose append timed out retrying it. Clients resume with
 * nothing lost and nothing twice; a retried append is stored once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HubPublisher } from '../protocol/publisher.ts';
import { dropNamespace, freePort, NATS_URL, OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { Recorder } from './support/recorder.ts';
import { signToken, startTestHub, TEST_SECRET } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 500, jitter: 0.5 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Appended {
  readonly site: number;
  readonly offset: number;
}

/** Offsets of the events this test's producer appends (projection workers may add `dashboard:update`s of their own). */
const PRODUCED = new Set(['task:update', 'alarm:new']);

function siteOffsets(r: Recorder): number[] {
  return r.received.filter((e) => e.meta?.stream === 'site' && PRODUCED.has(e.name)).map((e) => e.meta!.offset);
}

/** Every appended event of the client's site, each once, nothing else. */
function lossAndDuplicates(r: Recorder, site: number, appended: readonly Appended[]): { lost: number[]; duplicates: number[]; foreign: number[] } {
  const got = siteOffsets(r);
  const seen = new Set(got);
  const expected = new Set(appended.filter((a) => a.site === site).map((a) => a.offset));
  return {
    lost: [...expected].filter((o) => !seen.has(o)),
    duplicates: got.filter((o, i) => got.indexOf(o) !== i),
    foreign: got.filter((o) => !expected.has(o)),
  };
}

async function settleAll(clients: ReadonlyArray<{ r: Recorder; site: number }>, appended: readonly Appended[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const c of clients) {
    const want = appended.filter((a) => a.site === c.site).length;
    await c.r.waitFor(() => new Set(siteOffsets(c.r)).size >= want, Math.max(50, deadline - Date.now())).catch(() => {});
  }
}

function assertNoLossNoDuplicates(clients: ReadonlyArray<{ r: Recorder; site: number }>, appended: readonly Appended[]): void {
  let lost = 0;
  let duplicates = 0;
  const examples: string[] = [];
  for (const [i, c] of clients.entries()) {
    const d = lossAndDuplicates(c.r, c.site, appended);
    lost += d.lost.length;
    duplicates += d.duplicates.length + d.foreign.length;
    if ((d.lost.length > 0 || d.duplicates.length > 0 || d.foreign.length > 0) && examples.length < 5) examples.push(`client ${i}: ${JSON.stringify({ lost: d.lost.slice(0, 5), dup: d.duplicates.slice(0, 5), foreign: d.foreign.slice(0, 5) })}`);
  }
  assert.deepEqual({ lost, duplicates }, { lost: 0, duplicates: 0 }, examples.join('\n'));
}

/** Appends with retries under the same msg id until stored: what a careful producer does through an outage. `failures` counts the failed attempts. */
async function appendSurely(pub: HubPublisher, site: number, i: number, tag: string, failures = { count: 0 }): Promise<Appended> {
  for (let attempt = 0; ; attempt++) {
    try {
      const msgId = `${tag}-${i}`;
      const offset = i % 10 === 0 ? await pub.sendAlarmNotification({ id: `${tag}-alarm-${i}`, siteId: site, level: 'high' }, { msgId }) : await pub.sendTaskUpdate(site, { id: i }, { msgId });
      return { site, offset };
    } catch (e) {
      failures.count++;
      if (attempt > 300) throw e;
      await sleep(50);
    }
  }
}

/**
 * After the clients have every produced event: one more event per site, of a kind the checks ignore, and each
 * client waits for its site's. A connection delivers a site's events in log order, so a duplicate of an earlier
 * event would have come before it: when every client has its marker, the tally is final.
 */
async function markersDelivered(pub: HubPublisher, clients: ReadonlyArray<{ r: Recorder; site: number }>, sites: number, timeoutMs: number): Promise<void> {
  const markers = new Map<number, number>();
  for (let site = 1; site <= sites; site++) markers.set(site, await pub.sendOrderUpdate(site, { id: 'end-of-test marker' }));
  await Promise.all(clients.map((c) => c.r.waitFor((rs) => rs.some((e) => e.name === 'order:update' && e.meta?.offset === markers.get(c.site)), timeoutMs)));
}

/** A hub as its own process, `node --import tsx hub/main.ts`, configured by environment. */
class HubProcess {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #dataDir: string;
  stderr = '';

  private constructor(port: number, child: ChildProcess, dataDir: string) {
    this.port = port;
    this.#child = child;
    this.#dataDir = dataDir;
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static async start(env: Record<string, string>): Promise<HubProcess> {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'hub-proc-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'hub/main.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, HUB_PORT: String(port), HUB_HOST: '127.0.0.1', HUB_DATA_DIR: dataDir, HUB_LOG_LEVEL: 'warn', HUB_JWT_SECRET: TEST_SECRET, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const hub = new HubProcess(port, child, dataDir);
    child.stdout?.on('data', (d: Buffer) => (hub.stderr += d.toString()));
    // Generous: on a loaded 2-core machine tsx alone can take seconds to start.
    const deadline = Date.now() + 45_000;
    for (;;) {
      const ok = await fetch(`${hub.httpUrl}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) return hub;
      if (child.exitCode !== null || Date.now() > deadline) {
        await hub.kill();
        throw new Error(`hub process did not start (exit ${child.exitCode}): ${hub.stderr}`);
      }
      await sleep(200);
    }
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Live sessions, from the hub's own metrics; -1 while it does not answer. */
  async connections(): Promise<number> {
    try {
      const text = await (await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return Number(/^hub_connections (\d+)/m.exec(text)?.[1] ?? NaN);
    } catch (e) {
      process.stderr.write(`metrics of ${this.port} unreadable: ${String((e as Error).cause ?? e)}\n`);
      return -1;
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
    rmSync(this.#dataDir, { recursive: true, force: true });
  }
}

describe('hub kill -9 under a thousand clients', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('every client of the killed hub resumes on the other: 0 lost, 0 duplicated', async () => {
    const ns = uniqueNamespace();
    // Every socket comes from 127.0.0.1: the per-address rate is a limit for the internet, not for this test.
    // The hubs alone: this is about sockets, not about the projection workers `npm start` also runs.
    const env = { NATS_URL, HUB_NAMESPACE: ns, HUB_CONNECTIONS_PER_IP_PER_SECOND: '100000', HUB_PROJECTIONS: 'off' };
    cleanups.push(() => dropNamespace(ns));
    const a = await HubProcess.start(env);
    cleanups.push(() => a.kill());
    const b = await HubProcess.start(env);
    cleanups.push(() => b.kill('SIGTERM'));
    const pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
    cleanups.push(() => pub.close());

    const N = 1000;
    const SITES = 10;
    const clients: Array<{ r: Recorder; site: number }> = [];
    cleanups.push(async () => {
      for (const c of clients) c.r.close();
    });
    for (let batch = 0; batch < N; batch += 100) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const i = batch + j;
          const site = (i % SITES) + 1;
          const r = await Recorder.connect([a.wsUrl, b.wsUrl], await signToken(TEST_SECRET, { sub: `k9-${i}`, sites: [site] }), { reconnect: FAST_RECONNECT, pingIntervalMs: 600_000 });
          clients.push({ r, site }); // before any further await: cleanup must close every client, even after a failure
          await r.client.subscribeSite(site);
        }),
      );
    }
    // A first connect that fails transiently is retried on the next URL, so a few clients may start on B.
    const onA = await a.connections();
    assert.equal(onA + (await b.connections()), N);
    assert.ok(onA >= N * 0.95, `${onA} of ${N} clients on hub A`);

    const appended: Appended[] = [];
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        appended.push(await appendSurely(pub, (i % SITES) + 1, i, 'k9'));
        await sleep(5);
      }
    })();
    let beforeKill = 0;
    let movedInMs = 0;
    try {
      // Counted, not timed: enough events before the kill and after every client moved, however loaded the machine.
      await waitFor(() => appended.length >= 50, { timeoutMs: 30_000, what: () => `50 events appended before the kill (${appended.length})` });
      beforeKill = appended.length;
      await a.kill('SIGKILL');
      const killedAt = Date.now();
      const deadline = killedAt + 30_000;
      while ((await b.connections()) < N && Date.now() < deadline) await sleep(200);
      movedInMs = Date.now() - killedAt;
      assert.equal(await b.connections(), N, `all clients on hub B (${movedInMs} ms)`);
      const moved = appended.length;
      await waitFor(() => appended.length >= moved + 50, { timeoutMs: 30_000, what: () => `50 events appended once all clients moved (${appended.length - moved})` });
    } finally {
      producing = false;
      await producer;
    }
    await settleAll(clients, appended, 30_000);
    await markersDelivered(pub, clients, SITES, 30_000);

    assert.ok(beforeKill > 20 && appended.length > beforeKill + 20, `events before (${beforeKill}) and after the kill (${appended.length})`);
    assertNoLossNoDuplicates(clients, appended);
    assert.ok(clients.every((c) => c.r.client.connected));
    assert.ok(clients.every((c) => c.r.of('recovered').every((e) => e.data.recovered === true)), 'every resume recovered');
    console.log(`# kill -9: ${N} clients moved to hub B in ${movedInMs} ms; ${appended.length} events, ${appended.length * (N / SITES)} deliveries checked`);
  });
});

describe('NATS restart under load', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  // After NATS restarts, the hub's live consumer must pick up again within seconds (hub/fan-out.ts pulls
  // with a short expiry for this), well inside the 20 s bound below.
  it('clients on two hubs get every event appended before, during and after the outage, once', async () => {
    const nats = await OwnNatsServer.start();
    cleanups.push(() => nats.stop());
    const ns = uniqueNamespace();
    const a = await startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns, HUB_CONNECTIONS_PER_IP_PER_SECOND: '100000' });
    const b = await startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns, HUB_CONNECTIONS_PER_IP_PER_SECOND: '100000' });
    cleanups.push(() => a.stop({ drop: false }), () => b.stop({ drop: false }));
    const pub = await HubPublisher.connect({ servers: nats.url, namespace: ns, timeoutMs: 1000 });
    cleanups.push(() => pub.close());

    const SITES = 5;
    const clients: Array<{ r: Recorder; site: number }> = [];
    cleanups.push(async () => {
      for (const c of clients) c.r.close();
    });
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const site = (i % SITES) + 1;
        const urls = i % 2 === 0 ? [a.wsUrl, b.wsUrl] : [b.wsUrl, a.wsUrl];
        const r = await Recorder.connect(urls, await a.token({ sub: `nr-${i}`, sites: [site] }), { reconnect: FAST_RECONNECT, pingIntervalMs: 600_000 });
        await r.client.subscribeSite(site);
        clients.push({ r, site });
      }),
    );

    const appended: Appended[] = [];
    const failures = { count: 0 };
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        appended.push(await appendSurely(pub, (i % SITES) + 1, i, 'nr', failures));
        await sleep(5);
      }
    })();
    let beforeKill = 0;
    let afterRestart = 0;
    const healthz = async (url: string) => (await fetch(`${url}/healthz`).catch(() => undefined))?.status;
    try {
      await waitFor(() => appended.length >= 50, { timeoutMs: 30_000, what: () => `50 events appended before the outage (${appended.length})` });
      beforeKill = appended.length;
      await nats.kill();
      // The outage as each party sees it, not a time: both hubs report NATS down and the producer's appends fail.
      await waitFor(async () => (await healthz(a.httpUrl)) === 503 && (await healthz(b.httpUrl)) === 503 && failures.count > 0, { timeoutMs: 30_000, what: () => `both hubs and the producer to see NATS down (${failures.count} failed appends)` });
      await nats.restart();
      afterRestart = appended.length;
      // Keep producing until events flow again: 80 more appended after the restart.
      await waitFor(() => appended.length >= afterRestart + 80, { timeoutMs: 30_000, what: () => `80 events appended after the restart (${appended.length - afterRestart})` });
    } finally {
      producing = false;
      await producer;
    }
    await settleAll(clients, appended, 30_000);
    await markersDelivered(pub, clients, SITES, 30_000);

    assert.ok(beforeKill > 20 && appended.length > afterRestart + 20, `events before (${beforeKill}) and after (${appended.length - afterRestart}) the outage`);
    // Every append answered with its own offset: a retry never stored a second copy.
    assert.equal(new Set(appended.map((x) => x.offset)).size, appended.length);
    assertNoLossNoDuplicates(clients, appended);
    assert.ok(clients.every((c) => c.r.client.connected));
  });
});

/** A TCP proxy that can hold back what the server sends: a publish is stored, its acknowledgement delayed past the timeout. */
class StallingProxy {
  readonly #server: Server;
  readonly #clients = new Set<Socket>();
  stalled = false;
  readonly #held: Array<{ to: Socket; data: Buffer }> = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<{ proxy: StallingProxy; port: number }> {
    let proxy!: StallingProxy;
    const server = createServer((client) => {
      const upstream = tcpConnect(target);
      proxy.#clients.add(client);
      for (const s of [client, upstream]) s.on('error', () => {});
      client.on('data', (d: Buffer) => upstream.write(d));
      upstream.on('data', (d: Buffer) => (proxy.stalled ? proxy.#held.push({ to: client, data: d }) : client.write(d)));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    proxy = new StallingProxy(server);
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    return { proxy, port };
  }

  release(): void {
    this.stalled = false;
    for (const { to, data } of this.#held.splice(0)) to.write(data);
  }

  close(): Promise<void> {
    for (const c of this.#clients) c.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

describe('a producer retrying after a timeout', () => {
  it('stores the event once when the retry carries the same msgId, and twice without one', async () => {
    const t = await startTestHub();
    const target = new URL(t.natsUrl);
    const { proxy, port } = await StallingProxy.start({ host: target.hostname, port: Number(target.port) });
    const pub = await HubPublisher.connect({ servers: `nats://127.0.0.1:${port}`, namespace: t.ns, timeoutMs: 500 });
    const watcher = await Recorder.connect(t.wsUrl, await t.token({ sub: 'watcher', sites: [3] }));
    try {
      await watcher.client.subscribeSite(3);
      // The first attempt reaches JetStream, but its ack is held back until the producer gave up.
      proxy.stalled = true;
      await assert.rejects(pub.sendTaskUpdate(3, { id: 'retried' }, { msgId: 'erp-task-retried-v1' }));
      await watcher.waitFor((rs) => rs.some((e) => e.data?.id === 'retried'));
      proxy.release();
      const retried = await pub.sendTaskUpdate(3, { id: 'retried' }, { msgId: 'erp-task-retried-v1' });
      const again = await pub.sendTaskUpdate(3, { id: 'retried' }, { msgId: 'erp-task-retried-v1' });
      assert.equal(again, retried);
      await pub.sendTaskUpdate(3, { id: 'marker' });
      await watcher.waitFor((rs) => rs.some((e) => e.data?.id === 'marker'));
      const stored = watcher.of('task:update').filter((e) => e.data.id === 'retried');
      assert.equal(stored.length, 1, 'stored and delivered once');
      assert.equal(stored[0]!.meta!.offset, retried, 'the retry answered with the first attempt\'s offset');

      // The control: a retry without a msg id gets a fresh id each time, and is stored again.
      proxy.stalled = true;
      await assert.rejects(pub.sendTaskUpdate(3, { id: 'careless' }));
      proxy.release();
      await pub.sendTaskUpdate(3, { id: 'careless' });
      await watcher.waitFor((rs) => rs.filter((e) => e.data?.id === 'careless').length === 2);
    } finally {
      proxy.release();
      watcher.close();
      await pub.close();
      await proxy.close();
      await t.stop();
    }
  });
});

/**
 * WebSocketService, the seed's service as a drop-in: sends are void and never
 * throw; an outbox appends them with many in flight, in order, through a NATS
 * restart, and drains on close(); what cannot be appended is logged and counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { HubClient } from '../protocol/client.ts';
import { WebSocketService, type WebSocketServiceOptions } from '../protocol/publisher.ts';
import { createLogs, readLog, waitUntil } from './support/event-log.ts';
import { dropNamespace, NATS_URL, OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';

/** A logger that keeps its lines, to check that a drop is one clear line, not a crash. */
function recordingLogger() {
  const lines: Array<{ level: 'warn' | 'error'; message: string }> = [];
  return { lines, warn: (message: string) => lines.push({ level: 'warn', message }), error: (message: string) => lines.push({ level: 'error', message }) };
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

/** Per site, the `i` of each event in log order: must be 0, 1, 2, … */
function sequencesBySite(events: ReadonlyArray<{ subject: string; data: any }>): Map<string, number[]> {
  const bySite = new Map<string, number[]>();
  for (const e of events) {
    const site = e.subject.split('.')[2]!;
    let list = bySite.get(site);
    if (list === undefined) bySite.set(site, (list = []));
    list.push(e.data.i);
  }
  return bySite;
}

function assertInOrderWithoutGaps(bySite: Map<string, number[]>, perSite: number): void {
  for (const [site, list] of bySite) assert.deepEqual(list, Array.from({ length: perSite }, (_, i) => i), `site ${site} holds every event once, in the order sent`);
}

describe('WebSocketService', () => {
  const ns = uniqueNamespace('wss');
  const services: WebSocketService[] = [];
  const open = async (options: Partial<WebSocketServiceOptions> = {}) => {
    const s = await WebSocketService.connect({ servers: NATS_URL, namespace: ns, logger: recordingLogger(), ...options });
    services.push(s);
    return s;
  };
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    await createLogs(NATS_URL, ns);
  });
  after(async () => {
    await Promise.allSettled(services.map((s) => s.close()));
    await dropNamespace(ns);
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it('takes 10,000 unawaited sends over 10 sites and, by close(), has appended every one in the order sent per site', async () => {
    const service = await open({ maxInFlight: 256 });
    const sites = 10;
    const perSite = 1000;
    for (let i = 0; i < perSite; i++) for (let s = 1; s <= sites; s++) service.sendTaskUpdate(`o${s}`, { id: `${s}-${i}`, i, status: 'loading' });
    assert.ok(service.stats.depth > 0, 'the sends returned before being appended');
    await service.close();
    assert.deepEqual({ ...service.stats, retried: 0 }, { appended: sites * perSite, retried: 0, dropped: { invalid: 0, outbox_full: 0, refused: 0, shutdown: 0 }, depth: 0, inFlight: 0 });
    const logged = (await readLog(NATS_URL, ns, 'site')).filter((e) => e.subject.includes('.site.o'));
    assert.equal(logged.length, sites * perSite);
    assertInOrderWithoutGaps(sequencesBySite(logged), perSite);
  });

  it('drops and counts the sends a full outbox cannot hold, in one log line, without throwing; the rest are appended', async () => {
    const logger = recordingLogger();
    const service = await open({ outboxCapacity: 10, maxInFlight: 4, logger });
    for (let i = 0; i < 100; i++) service.sendDashboardUpdate('full', { i });
    assert.equal(service.stats.dropped.outbox_full, 90);
    assert.equal(await service.flush(), true);
    assert.equal(service.stats.appended, 10);
    const full = logger.lines.filter((l) => /outbox full/.test(l.message));
    assert.equal(full.length, 1, `one line for a burst of drops: ${JSON.stringify(logger.lines)}`);
    assert.match(full[0]!.message, /outbox full \(10 events waiting for NATS\): dashboard:update to .*\.site\.full\.dashboard\.updated dropped/);
    const stored = (await readLog(NATS_URL, ns, 'site')).filter((e) => e.subject.includes('.site.full.'));
    assert.deepEqual(stored.map((e) => e.data.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('counts and logs what cannot be stored (no site, a circular row, an unknown level) and never throws into the caller', async () => {
    const logger = recordingLogger();
    const service = await open({ logger });
    const circular: Record<string, unknown> = { id: 1 };
    circular.self = circular;
    assert.equal(service.sendAlarmNotification({ id: 1, title: 'no site' }), undefined);
    assert.doesNotThrow(() => service.sendTaskUpdate(1, circular));
    assert.doesNotThrow(() => service.broadcastSystemMessage('x', 'fatal' as 'error'));
    assert.doesNotThrow(() => service.sendOrderUpdate('a.b', { id: 1 }));
    assert.equal(service.stats.dropped.invalid, 4);
    assert.match(logger.lines[0]!.message, /alarm:new not sent: .*no siteId or site_id/);
    await assert.rejects(service.append({ event: 'task:update', siteId: 1, data: circular }), /circular/);
    assert.ok((await service.append({ event: 'task:update', siteId: 1, data: { id: 1 } })) > 0, 'append resolves to the offset');
  });

  it('keeps sends sent before any hub created the logs, retrying with backoff, and appends them in order once the logs exist', async () => {
    const early = uniqueNamespace('wsse');
    const logger = recordingLogger();
    const service = await WebSocketService.connect({ servers: NATS_URL, namespace: early, logger, retryBackoff: { initialDelayMs: 10, maxDelayMs: 100, jitter: 0.2 } });
    services.push(service);
    try {
      for (let i = 0; i < 100; i++) for (let s = 1; s <= 3; s++) service.sendOrderUpdate(s, { id: `${s}-${i}`, i });
      await waitUntil(() => service.stats.retried >= 3, 'appends retried while no stream stores them');
      assert.equal(service.stats.appended, 0);
      await createLogs(NATS_URL, early);
      assert.equal(await service.flush(), true);
      assert.equal(service.stats.appended, 300);
      const logged = await readLog(NATS_URL, early, 'site');
      assert.equal(logged.length, 300, 'each event once');
      assertInOrderWithoutGaps(sequencesBySite(logged), 100);
      assert.ok(logger.lines.some((l) => /failed .*retrying with backoff, 300 events waiting/.test(l.message)), JSON.stringify(logger.lines));
      assert.ok(logger.lines.some((l) => /appends resumed/.test(l.message)));
    } finally {
      await service.close();
      await dropNamespace(early);
    }
  });

  it('counts appended, retried and dropped events in a prom-client registry', async () => {
    const service = await open({ outboxCapacity: 2 });
    const registry = new Registry();
    service.registerMetrics(registry);
    service.sendVehicleUpdate(3, { i: 1 });
    service.sendVehicleUpdate(3, { i: 2 });
    service.sendVehicleUpdate(3, { i: 3 });
    await service.flush();
    const text = await registry.metrics();
    assert.match(text, /^hub_publisher_appended_total 2$/m);
    assert.match(text, /^hub_publisher_dropped_total\{reason="outbox_full"\} 1$/m);
    assert.match(text, /^hub_publisher_outbox_depth 0$/m);
    assert.match(text, /^hub_publisher_retried_total 0$/m);
  });
});

describe('WebSocketService online counts', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub();
  });
  after(() => t.stop());

  it('answers numbers at once, kept current in the background as users come and go', async () => {
    const service = await WebSocketService.connect({ servers: t.natsUrl, namespace: t.ns, presenceRefreshMs: 100 });
    try {
      assert.equal(service.getOnlineUsersCount(), 0);
      assert.equal(service.getSiteOnlineUsersCount(1), 0);
      const client = new HubClient({ url: t.wsUrl, token: await t.token({ sub: 'alice', sites: [1] }), WebSocket, reconnect: false });
      await client.connect();
      await client.subscribeSite(1);
      await waitUntil(() => service.getOnlineUsersCount() === 1 && service.getSiteOnlineUsersCount(1) === 1 && service.getSiteOnlineUsersCount('1') === 1, 'one user online, on site 1');
      assert.equal(service.getSiteOnlineUsersCount(2), 0);
      client.close();
      await waitUntil(() => service.getOnlineUsersCount() === 0, 'no one online');
    } finally {
      await service.close();
    }
  });
});

describe('WebSocketService through a NATS restart', () => {
  let nats: OwnNatsServer;
  const ns = uniqueNamespace('wssr');
  before(async () => {
    nats = await OwnNatsServer.start();
    await createLogs(nats.url, ns);
  });
  after(() => nats.stop());

  it('loses nothing and keeps each site in order when NATS is killed mid-stream and restarted on the same store', async () => {
    const logger = recordingLogger();
    const service = await WebSocketService.connect({ servers: nats.url, namespace: ns, logger, maxInFlight: 256, drainTimeoutMs: 30_000, retryBackoff: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.2 } });
    const sites = 5;
    let sent = 0;
    const sendRound = (rounds: number) => {
      for (let r = 0; r < rounds; r++, sent++) for (let s = 1; s <= sites; s++) service.sendTaskUpdate(s, { id: `${s}-${sent}`, i: sent });
    };
    try {
      sendRound(400);
      await waitUntil(() => service.stats.appended >= 300, 'some events appended before the kill');
      await nats.kill();
      // Sent while NATS is down: they wait in the outbox.
      sendRound(300);
      assert.ok(service.stats.depth > 0);
      await nats.restart();
      sendRound(300);
      await service.close();
      assert.deepEqual(service.stats.dropped, { invalid: 0, outbox_full: 0, refused: 0, shutdown: 0 });
      assert.equal(service.stats.appended, sites * sent);
      const logged = await readLog(nats.url, ns, 'site');
      assert.equal(new Set(logged.map((e) => e.msgId)).size, logged.length, 'no event stored twice');
      assert.equal(logged.length, sites * sent);
      assertInOrderWithoutGaps(sequencesBySite(logged), sent);
      assert.ok(service.stats.retried > 0, 'what was in flight at the kill was sent again');
      assert.ok(logger.lines.some((l) => /NATS connection lost/.test(l.message)) && logger.lines.some((l) => /appends resumed/.test(l.message)), `the outage and the recovery are logged: ${JSON.stringify(logger.lines)}`);
    } finally {
      await service.close();
    }
  });

  it('gives up on close() after drainTimeoutMs while NATS stays down: counted as shutdown drops, one error line, no rejection', async () => {
    const logger = recordingLogger();
    const service = await WebSocketService.connect({ servers: nats.url, namespace: ns, logger, drainTimeoutMs: 300 });
    await nats.kill();
    for (let i = 0; i < 10; i++) service.sendAlarmNotification({ id: `down-${i}`, site_id: 9, level: 'high' });
    const started = Date.now();
    await service.close();
    assert.ok(Date.now() - started < 5000, 'close() returned after its drain timeout, not the append timeout');
    assert.equal(service.stats.dropped.shutdown, 10);
    assert.equal(service.stats.depth, 0);
    const errors = logger.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(logger.lines));
    assert.match(errors[0]!.message, /close\(\): 10 events not confirmed as appended within 300 ms/);
  });
});

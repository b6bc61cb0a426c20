/**
 * HubModule in a real NestJS application: the seed's services, unchanged but
 * for one import, send through WebSocketService; a HubClient on a real hub gets
 * every event in exactly the JSON shape the seed's Socket.IO gateway sent
 * (`JSON.parse(JSON.stringify(row))`), and closing the application drains what
 * was still on its way.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Inject, Injectable, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HubModule, WebSocketService } from '../protocol/nest-module.ts';
import { readLog } from './support/event-log.ts';
import { Recorder } from './support/recorder.ts';
import { SeedSocket } from './support/seed-socket.ts';
import type * as SeedServices from './support/seed-services.ts';
import { OwnNatsServer, uniqueNamespace } from './support/nats.ts';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { importCompiledByTsc } from './support/tsc-compiled.ts';

/** What the seed's Socket.IO gateway put on the wire for a value. */
const socketIoShape = (value: unknown) => JSON.parse(JSON.stringify(value));

/** A service written for tsx, which emits no decorator metadata: it names its dependency with @Inject. */
@Injectable()
class ShiftService {
  constructor(@Inject(WebSocketService) private readonly websocketService: WebSocketService) {}

  announce(message: string) {
    this.websocketService.broadcastSystemMessage(message, 'warning');
  }
}

/** Each expected event arrived once, with exactly that data; `received(name)` lists a client's payloads of one event name. */
function assertReceivedExactly(expected: ReadonlyArray<readonly [event: string, data: unknown]>, received: (event: string) => unknown[]): void {
  for (const name of new Set(expected.map(([n]) => n))) {
    assert.deepEqual(received(name), expected.filter(([n]) => n === name).map(([, data]) => data), name);
  }
}

async function boot(imports: unknown[], providers: unknown[] = []): Promise<INestApplicationContext> {
  class AppModule {}
  Module({ imports: imports as never[], providers: providers as never[] })(AppModule);
  return NestFactory.createApplicationContext(AppModule, { logger: false });
}

describe('HubModule (NestJS)', () => {
  let t: TestHub;
  let seed: typeof SeedServices;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    t = await startTestHub();
    seed = await importCompiledByTsc<typeof SeedServices>(fileURLToPath(new URL('./support/seed-services.ts', import.meta.url)));
  });
  after(async () => {
    await t.stop();
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it("delivers the seed's AlarmsService, ProductionService and InventoryService sends, unawaited, in the JSON shape of their Prisma rows", async () => {
    const app = await boot([HubModule.forRoot({ servers: t.natsUrl, namespace: t.ns }), seed.PlantModule], [ShiftService]);
    const r = await Recorder.connect(t.wsUrl, await t.token({ sub: 'operator', sites: [1] }));
    // And a front-end as the seed writes it, on the hub's Socket.IO face.
    const s = await SeedSocket.connect(t.wsUrl, await t.token({ sub: 'seed-front-end', sites: [1] }));
    try {
      await r.client.subscribeSite(1);
      await s.request('subscribe:site', { siteId: 1 }, 'subscribed');
      const alarm = await app.get(seed.AlarmsService).create({ site_id: 1, title: 'Mixer overload', message: 'Mixer 2 current above 120%', level: 'critical' });
      const batch = await app.get(seed.ProductionService).startBatch(77);
      const stock = await app.get(seed.InventoryService).stockIn({ siteId: 1, materialId: 3, quantity: 8 });
      app.get(ShiftService).announce('Shift change at 18:00');

      // What the seed's gateway emitted, event by event: any client (HubClient here) must receive exactly this.
      const expected: ReadonlyArray<readonly [event: string, data: unknown]> = [
        ['alarm:new', socketIoShape(alarm)],
        ['production:update', socketIoShape({ type: 'batch_started', batch })],
        ['inventory:update', socketIoShape({ type: 'stock_in', material: stock.material, quantity: 8 })],
      ];
      await r.waitFor((rs) => [...expected.map(([name]) => name), 'system:message'].every((name) => rs.some((e) => e.name === name)));
      assertReceivedExactly(expected, (name) => r.of(name).map((e) => e.data));
      await s.waitFor((rs) => [...expected.map(([name]) => name), 'system:message'].every((name) => rs.some((e) => e.name === name)));
      assertReceivedExactly(expected, (name) => s.of(name).map((e) => e.data));
      assert.equal(r.of('production:update')[0]!.data.batch.volume, '8.5', 'a Decimal arrives as its string, as Socket.IO sent it');
      assert.equal(typeof r.of('alarm:new')[0]!.data.created_at, 'string');
      assert.deepEqual(r.of('system:message').map((e) => [e.data.message, e.data.level]), [['Shift change at 18:00', 'warning']]);

      const service = app.get(WebSocketService);
      assert.equal(typeof service.getOnlineUsersCount(), 'number');
      assert.equal(typeof service.getSiteOnlineUsersCount(1), 'number');
    } finally {
      r.close();
      s.close();
      await app.close();
    }
  });

  it('loses nothing and never exits while NATS restarts under the services; the front-end gets every alarm once, in order', async () => {
    const nats = await OwnNatsServer.start();
    const ns = uniqueNamespace();
    const hub = await startTestHub({ NATS_URL: nats.url, HUB_NAMESPACE: ns });
    const app = await boot([HubModule.forRoot({ servers: nats.url, namespace: ns }), seed.PlantModule]);
    const s = await SeedSocket.connect(hub.wsUrl, await hub.token({ sub: 'through-restart', sites: [9] }));
    try {
      await s.request('subscribe:site', { siteId: 9 }, 'subscribed');
      const alarms = app.get(seed.AlarmsService);
      const created: unknown[] = [];
      const raise = async (from: number, to: number) => {
        for (let i = from; i < to; i++) created.push(await alarms.create({ site_id: 9, title: `alarm ${i}`, message: 'm', level: 'high' }));
      };
      await raise(0, 20);
      await s.waitFor((rs) => rs.filter((e) => e.name === 'alarm:new').length === 20, 20_000);
      await nats.kill();
      await raise(20, 40); // unawaited sends while NATS is down: they wait in the outbox
      await nats.restart();
      await raise(40, 60);
      await s.waitFor((rs) => rs.filter((e) => e.name === 'alarm:new').length >= 60, 60_000);
      // A last alarm, sent after the others through the same outbox: a duplicate of any of them would arrive before it.
      await raise(60, 61);
      await s.waitFor((rs) => rs.some((e) => e.name === 'alarm:new' && (e.data as { title?: string }).title === 'alarm 60'), 20_000);
      assert.deepEqual(s.of('alarm:new').map((e) => e.data), created.map(socketIoShape), 'every alarm once, in the order raised');
    } finally {
      s.close();
      await app.close();
      await hub.stop();
      await nats.stop();
    }
  });

  it('drains what the services sent when the application closes (shutdown hooks)', async () => {
    const app = await boot([HubModule.forRoot({ servers: t.natsUrl, namespace: t.ns }), seed.PlantModule]);
    const alarms = app.get(seed.AlarmsService);
    const created = await Promise.all(Array.from({ length: 200 }, (_, i) => alarms.create({ site_id: 2, title: `drain ${i}`, message: 'm', level: 'high' })));
    const service = app.get(WebSocketService);
    assert.ok(service.stats.depth > 0, 'sends still on their way when the application closes');
    await app.close();
    assert.equal(service.stats.depth, 0);
    assert.equal(service.stats.appended, 200);
    service.sendTaskUpdate(2, { id: 'after close' });
    assert.equal(service.stats.dropped.shutdown, 1, 'the shutdown hooks closed the service: a later send is dropped, and counted');
    const logged = (await readLog(t.natsUrl, t.ns, 'site')).filter((e) => e.subject.includes('.site.2.alarm.'));
    assert.deepEqual(logged.map((e) => e.data), created.map(socketIoShape), 'every alarm, in the order created');
  });

  it('takes its options from a factory with forRootAsync, injecting what the factory needs', async () => {
    const HUB_SETTINGS = 'HUB_SETTINGS';
    class SettingsModule {}
    Module({ providers: [{ provide: HUB_SETTINGS, useValue: { url: t.natsUrl, ns: t.ns } }], exports: [HUB_SETTINGS] })(SettingsModule);
    const app = await boot([
      HubModule.forRootAsync({ imports: [SettingsModule], inject: [HUB_SETTINGS], useFactory: (s: { url: string; ns: string }) => ({ servers: s.url, namespace: s.ns }) }),
      seed.PlantModule,
    ]);
    try {
      const batch = await app.get(seed.ProductionService).startBatch(78);
      const service = app.get(WebSocketService);
      assert.equal(await service.flush(), true);
      const logged = (await readLog(t.natsUrl, t.ns, 'site')).filter((e) => e.data?.batch?.id === 78);
      assert.deepEqual(logged.map((e) => e.data), [socketIoShape({ type: 'batch_started', batch })]);
    } finally {
      await app.close();
    }
  });
});

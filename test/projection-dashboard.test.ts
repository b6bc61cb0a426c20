/**
 * The dashboard projection, one event type at a time: given what a site's log
 * held, when an event is appended, then the view reads so (real Postgres).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AppendRequest } from '../protocol/event-append.ts';
import type { ProjectionWorker } from '../projections/projection-worker.ts';
import { ViewReader } from '../projections/view-reader.ts';
import { ProjectionHarness, SCHEMA, TIME_ZONE } from './support/projection-harness.ts';

describe('dashboard projection', () => {
  let h: ProjectionHarness;
  let worker: ProjectionWorker;
  let reader: ViewReader;
  let sites = 0;
  before(async () => {
    h = await ProjectionHarness.start();
    worker = h.startWorker('dashboard');
    reader = new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE);
  });
  after(() => h.stop());

  /** Each case on a site of its own, so cases do not see each other. */
  function scenario() {
    const site = `s${++sites}`;
    const append = async (events: Array<Omit<AppendRequest, 'siteId'>>) => {
      let last = 0;
      for (const e of events) last = await h.append({ ...e, siteId: site });
      if (last > 0) await worker.waitFor(last);
    };
    return {
      site,
      given: append,
      when: append,
      then: () => reader.dashboard(site),
    };
  }

  const batchStarted = (id: string | number, volume?: number) => ({ event: 'production:update' as const, data: { type: 'batch_started', batch: { id, ...(volume === undefined ? {} : { volume }) } } });
  const batchCompleted = (id: string | number, volume: number) => ({ event: 'production:update' as const, data: { type: 'batch_completed', batch: { id, volume } } });
  const task = (id: number, status: string) => ({ event: 'task:update' as const, data: { id, status, vehicle: { id: 'v1' } } });
  const alarm = (id: string, level: string, title = `alarm ${id}`) => ({ event: 'alarm:new' as const, data: { id, level, title } });
  const alarmUpdate = (id: string, status: string) => ({ event: 'alarm:update' as const, data: { id, status } });

  it('counts a started batch as in progress today, with its planned volume', async () => {
    const s = scenario();
    await s.when([batchStarted('b1', 8)]);
    const view = await s.then();
    assert.deepEqual(view.production, { batches: 1, volume: 0, byStatus: { in_progress: { batches: 1, volume: 8 } } });
  });

  it('moves a completed batch to completed and adds its volume to today', async () => {
    const s = scenario();
    await s.given([batchStarted('b1', 8), batchStarted('b2', 6)]);
    await s.when([batchCompleted('b1', 7.5)]);
    const view = await s.then();
    assert.deepEqual(view.production, { batches: 2, volume: 7.5, byStatus: { in_progress: { batches: 1, volume: 6 }, completed: { batches: 1, volume: 7.5 } } });
  });

  it('adds a Decimal volume, as Prisma rows send it ("8.5"), as the number it is', async () => {
    const s = scenario();
    await s.given([{ event: 'production:update', data: { type: 'batch_started', batch: { id: 'd1', volume: '8.5' } } }]);
    await s.when([{ event: 'production:update', data: { type: 'batch_completed', batch: { id: 'd1', volume: '8.25' } } }]);
    const view = await s.then();
    assert.deepEqual(view.production, { batches: 1, volume: 8.25, byStatus: { completed: { batches: 1, volume: 8.25 } } });
  });

  it('ignores a repeated start and a repeated completion', async () => {
    const s = scenario();
    await s.given([batchStarted(1, 8), batchCompleted(1, 8)]);
    await s.when([batchStarted(1, 8), batchCompleted(1, 8)]);
    assert.deepEqual((await s.then()).production, { batches: 1, volume: 8, byStatus: { completed: { batches: 1, volume: 8 } } });
  });

  it('counts a completion whose start it never saw', async () => {
    const s = scenario();
    await s.when([batchCompleted('late', 9)]);
    assert.deepEqual((await s.then()).production, { batches: 1, volume: 9, byStatus: { completed: { batches: 1, volume: 9 } } });
  });

  it('counts tasks by their current status as they change', async () => {
    const s = scenario();
    await s.given([task(1, 'pending'), task(2, 'pending'), task(3, 'pending')]);
    await s.when([task(1, 'loading'), task(2, 'loading'), task(1, 'in_transit'), task(3, 'pending')]);
    assert.deepEqual((await s.then()).tasks, { pending: 1, loading: 1, in_transit: 1 });
  });

  it('counts vehicles and orders by status, and passes over updates without a status', async () => {
    const s = scenario();
    await s.given([
      { event: 'vehicle:update', data: { id: 'T-1', status: 'idle' } },
      { event: 'vehicle:update', data: { id: 'T-2', status: 'idle' } },
      { event: 'order:update', data: { id: 100, status: 'confirmed' } },
    ]);
    await s.when([
      { event: 'vehicle:update', data: { id: 'T-1', position: { lat: 31.2, lng: 121.5 } } },
      { event: 'vehicle:update', data: { id: 'T-2', status: 'delivering' } },
      { event: 'order:update', data: { id: 100, status: 'in_production' } },
      { event: 'order:update', data: { id: 101, note: 'no status: not a status change' } },
    ]);
    const view = await s.then();
    assert.deepEqual(view.vehicles, { idle: 1, delivering: 1 });
    assert.deepEqual(view.orders, { in_production: 1 });
  });

  it('counts open and unacknowledged alarms by level through raise, acknowledge and clear', async () => {
    const s = scenario();
    await s.given([alarm('a1', 'critical'), alarm('a2', 'high'), alarm('a3', 'high')]);
    await s.when([alarmUpdate('a1', 'acknowledged'), alarmUpdate('a2', 'cleared'), alarmUpdate('a2', 'cleared')]);
    const view = await s.then();
    assert.deepEqual(view.alarms.openByLevel, { critical: 1, high: 1 });
    assert.deepEqual(view.alarms.unacknowledgedByLevel, { high: 1 });
    assert.equal(view.alarms.open, 2);
    assert.equal(view.alarms.unacknowledged, 1);
    assert.deepEqual(
      view.alarms.recent.map((a) => [a.id, a.level, a.status, a.title]),
      [
        ['a3', 'high', 'open', 'alarm a3'],
        ['a1', 'critical', 'acknowledged', 'alarm a1'],
      ],
    );
  });

  it('reopens a cleared alarm raised again, and counts an acknowledgement of an alarm it never saw raised as open', async () => {
    const s = scenario();
    await s.given([alarm('a1', 'low'), alarmUpdate('a1', 'cleared')]);
    await s.when([alarm('a1', 'low'), { event: 'alarm:update', data: { id: 'old', status: 'acknowledged', level: 'medium' } }]);
    const view = await s.then();
    assert.deepEqual(view.alarms.openByLevel, { low: 1, medium: 1 });
    assert.deepEqual(view.alarms.unacknowledgedByLevel, { low: 1 });
  });

  it('reports the offset it reflects: the last event of the stream it folded', async () => {
    const s = scenario();
    await s.when([task(9, 'pending')]);
    const view = await s.then();
    assert.equal(view.offset, worker.position);
    assert.ok(view.offset >= 1);
    assert.equal(view.siteId, s.site);
    assert.ok(view.updatedAt !== null);
  });

  it('keeps sites apart', async () => {
    const a = scenario();
    const b = scenario();
    await a.when([task(1, 'pending')]);
    await b.when([task(1, 'loading')]);
    assert.deepEqual((await a.then()).tasks, { pending: 1 });
    assert.deepEqual((await b.then()).tasks, { loading: 1 });
  });
});

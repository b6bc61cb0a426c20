/**
 * The inventory projection: stock movements fold into quantity on hand per site
 * and material; crossing below the threshold raises one low-stock alarm per
 * crossing, and a replay (redelivery, restart, rebuild) never raises it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodePayload } from '../protocol/codec.ts';
import { DERIVED_HEADER } from '../protocol/log-record.ts';
import { streamName } from '../protocol/subjects.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import type { ProjectionWorker } from '../projections/projection-worker.ts';
import { ViewReader } from '../projections/view-reader.ts';
import { ProjectionHarness, SCHEMA, silentLog, TIME_ZONE } from './support/projection-harness.ts';
import { waitFor } from './support/wait-for.ts';

describe('inventory projection', () => {
  let h: ProjectionHarness;
  let worker: ProjectionWorker;
  let reader: ViewReader;
  let sites = 0;
  before(async () => {
    h = await ProjectionHarness.start();
    worker = h.startWorker('inventory');
    reader = new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE);
  });
  after(() => h.stop());

  const cement = { id: 'cement', name: 'Cement P.O 42.5', unit: 't', threshold: 20 };
  const move = (type: 'stock_in' | 'stock_out' | 'adjustment', quantity: number | string, material: object = cement) => ({ type, material, quantity });

  async function moves(site: string, ...movements: ReturnType<typeof move>[]): Promise<number> {
    let last = 0;
    for (const m of movements) last = await h.append({ event: 'inventory:update', siteId: site, data: m });
    await worker.waitFor(last);
    return last;
  }

  /** The low-stock alarm events in the log for a site, in order. */
  async function lowStockAlarms(site: string): Promise<Array<{ name: string; data: any; seq: number; derived: boolean }>> {
    const out: Array<{ name: string; data: any; seq: number; derived: boolean }> = [];
    const consumer = await h.js.consumers.get(streamName(h.ns, 'site'), { filter_subjects: `${h.ns}.site.${site}.alarm.>` });
    const last = await h.streamLastSeq();
    const info = await consumer.info();
    if (info.num_pending === 0) return out;
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 1000 })) {
      out.push({ name: m.subject.endsWith('raised') ? 'alarm:new' : 'alarm:update', data: decodePayload(m.data), seq: m.seq, derived: m.headers?.get(DERIVED_HEADER) === '1' });
      if (m.info.pending === 0 || m.seq >= last) break;
    }
    return out;
  }

  /**
   * Waits until the outbox has published (the alarms are appended after commit): a row leaves the outbox once
   * JetStream has acknowledged it, so an empty outbox means every alarm committed so far is in the log.
   */
  async function settled(): Promise<void> {
    const pending = async () => Number((await h.db.database.db.withSchema(SCHEMA).selectFrom('projection_outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    await waitFor(async () => (await pending()) === 0, { timeoutMs: 5000, everyMs: 50, what: 'the outbox to drain' });
  }

  it('adds stock in, subtracts stock out, applies signed adjustments, and keeps the last movement', async () => {
    const site = `i${++sites}`;
    const last = await moves(site, move('stock_in', 50), move('stock_out', 12.5), move('adjustment', -0.5));
    const { items, offset } = await reader.inventory(site);
    assert.equal(offset, worker.position);
    assert.deepEqual(
      items.map((i) => [i.materialId, i.name, i.unit, i.onHand, i.threshold, i.low, i.lastMovement.type, i.lastMovement.quantity, i.lastMovement.offset]),
      [['cement', 'Cement P.O 42.5', 't', 37, 20, false, 'adjustment', -0.5, last]],
    );
  });

  it('keeps materials and sites apart, and takes the threshold in the seed’s minStock spelling too', async () => {
    const a = `i${++sites}`;
    const b = `i${++sites}`;
    await moves(a, move('stock_in', 5, { id: 'sand', unit: 't', minStock: 10 }), move('stock_in', 100, { id: 'water', unit: 'm3' }));
    await moves(b, move('stock_in', 7, { id: 'sand', unit: 't' }));
    assert.deepEqual(
      (await reader.inventory(a)).items.map((i) => [i.materialId, i.onHand, i.threshold, i.low]),
      [
        ['sand', 5, 10, true],
        ['water', 100, null, false],
      ],
    );
    assert.deepEqual((await reader.inventory(b)).items.map((i) => [i.materialId, i.onHand, i.low]), [['sand', 7, false]]);
  });

  it('folds Decimal quantities and min_stock, as Prisma rows send them ("12.25"), as numbers', async () => {
    const site = `i${++sites}`;
    const sand = { id: 7, name: 'Sand', unit: 't', min_stock: '12.25' };
    await moves(site, move('stock_in', '20.5', sand), move('stock_out', '9', sand));
    assert.deepEqual((await reader.inventory(site)).items.map((i) => [i.materialId, i.onHand, i.threshold, i.low, i.lastMovement.quantity]), [['7', 11.5, 12.25, true, 9]]);
  });

  it('raises one low-stock alarm when a material crosses below its threshold, none while it stays low, and clears it when restocked', async () => {
    const site = `i${++sites}`;
    await moves(site, move('stock_in', 30));
    const crossing = await moves(site, move('stock_out', 15));
    await moves(site, move('stock_out', 2), move('stock_out', 1));
    await settled();
    let alarms = await lowStockAlarms(site);
    assert.equal(alarms.length, 1);
    const raised = alarms[0]!;
    assert.equal(raised.name, 'alarm:new');
    assert.equal(raised.data.id, `low-stock:${site}:cement:${crossing}`);
    assert.equal(raised.data.level, 'warning');
    assert.equal(raised.data.onHand, 15);
    assert.equal(raised.derived, true, 'the projection marks what it appends as derived (Hub-Derived: 1)');
    assert.equal((await reader.inventory(site)).items[0]!.lowAlarmId, raised.data.id);

    await moves(site, move('stock_in', 40));
    await settled();
    alarms = await lowStockAlarms(site);
    assert.deepEqual(alarms.map((a) => [a.name, a.data.id, a.data.status]), [
      ['alarm:new', raised.data.id, undefined],
      ['alarm:update', raised.data.id, 'cleared'],
    ]);
    assert.ok(alarms.every((a) => a.derived));

    // A second crossing is a new alarm.
    const second = await moves(site, move('stock_out', 45));
    await settled();
    alarms = await lowStockAlarms(site);
    assert.equal(alarms.length, 3);
    assert.equal(alarms[2]!.data.id, `low-stock:${site}:cement:${second}`);
  });

  it('does not raise a crossing’s alarm again across a replay: redelivery, a restarted worker, a rebuild', async () => {
    const site = `i${++sites}`;
    await moves(site, move('stock_in', 25), move('stock_out', 10));
    await settled();
    assert.equal((await lowStockAlarms(site)).length, 1);

    // A restarted worker (new consumer from the checkpoint) and a full rebuild from the stream's start.
    await worker.stop();
    worker = h.startWorker('inventory');
    await moves(site, move('stock_out', 1));
    const result = await rebuildProjection({ database: h.db.database, schema: SCHEMA, nc: h.nc, servers: h.natsUrl, namespace: h.ns, projection: h.projection('inventory'), batchSize: 3, timeZone: TIME_ZONE, log: silentLog });
    assert.equal(result.lastSeq, worker.position);
    await moves(site, move('stock_out', 1));
    await settled();
    assert.equal((await lowStockAlarms(site)).length, 1);
    assert.equal((await reader.inventory(site)).items[0]!.onHand, 13);
  });
});

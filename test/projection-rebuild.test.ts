/**
 * Rebuilds at log speed: the replay reads the stream in a reader thread, and the
 * rebuild folds its next batch while Postgres commits the one before. Whatever
 * happens on the way (a batch the database refuses, a replay losing its
 * consumer), the rebuilt view is the live one, or the rebuild fails loudly.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { streamName } from '../protocol/subjects.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { DeliverySocket, DeliverySocketUnsupported } from '../projections/delivery-socket.ts';
import { ReplayError, StreamReplay } from '../projections/stream-replay.ts';
import { PlantModel } from '../hub/demo/plant-model.ts';
import { ProjectionHarness, SCHEMA, silentLog, TIME_ZONE } from './support/projection-harness.ts';
import { assertAsyncProperty } from './support/property.ts';

describe('rebuild', () => {
  const harnesses: ProjectionHarness[] = [];
  const harness = async () => {
    const h = await ProjectionHarness.start();
    harnesses.push(h);
    return h;
  };
  after(() => Promise.allSettled(harnesses.map((h) => h.stop())));

  it('a batch the database refuses mid-rebuild is split and its event dead-lettered; the batches folded ahead of it are folded again, and the view equals the live one', async () => {
    const h = await harness();
    const model = new PlantModel({ sites: ['1', '2'], seed: 5 });
    await h.appendAll(model.take(300));
    // Two batches of the largest volume float8 holds, started the same day: their sum overflows
    // to Infinity, which JSON cannot carry (null), and the production row refuses null (SQLSTATE 23502).
    const huge = 1.7e308;
    await h.append({ event: 'production:update', siteId: '1', data: { type: 'batch_started', batch: { id: 'huge-1', volume: huge } } });
    const refused = await h.append({ event: 'production:update', siteId: '1', data: { type: 'batch_started', batch: { id: 'huge-2', volume: huge } } });
    await h.appendAll(model.take(300));
    const worker = h.startWorker('dashboard', { batchSize: 100 });
    await worker.waitFor(await h.lastSeqFor('dashboard'), 20_000);
    const live = await h.view('dashboard');
    const letters = () => h.db.database.db.withSchema(SCHEMA).selectFrom('projection_dead_letters').select(['seq', 'error']).execute();
    assert.deepEqual((await letters()).map((l) => l.seq), [refused], 'the live worker dead-lettered the overflowing event');

    // Small batches: several are prepared ahead of the refused one and after it.
    const result = await rebuildProjection({ database: h.db.database, schema: SCHEMA, nc: h.nc, servers: h.natsUrl, namespace: h.ns, projection: h.projection('dashboard'), batchSize: 40, timeZone: TIME_ZONE, log: silentLog });
    assert.equal(result.lastSeq, await h.lastSeqFor('dashboard'));
    assert.deepEqual(await h.view('dashboard'), live);
    assert.deepEqual((await letters()).map((l) => l.seq), [refused], 'dead-lettered once, whoever found it');
  });

  it('folding in memory, past its memory bound, or batch by batch, a rebuild gives the same tables and dead letters as the live worker (seeded property)', async () => {
    const events = fc.record({
      sites: fc.integer({ min: 1, max: 4 }),
      seed: fc.integer({ min: 1, max: 1_000_000 }),
      count: fc.integer({ min: 50, max: 400 }),
      // Undecodable events appended among the plant's: dead letters, on every path.
      poison: fc.array(fc.integer({ min: 0, max: 399 }), { maxLength: 3 }),
      batchSize: fc.integer({ min: 7, max: 400 }),
      memoryRows: fc.integer({ min: 1, max: 300 }),
    });
    await assertAsyncProperty(
      fc.asyncProperty(events, async ({ sites, seed, count, poison, batchSize, memoryRows }) => {
        const h = await harness();
        const model = new PlantModel({ sites: Array.from({ length: sites }, (_, i) => String(i + 1)), seed });
        const plant = model.take(count);
        for (let i = 0; i < plant.length; i += 50) {
          await h.appendAll(plant.slice(i, i + 50));
          for (const at of poison) if (at >= i && at < i + 50) await h.appendRaw('1', at % 2 === 0 ? 'task.updated' : 'inventory.updated', Uint8Array.of(0xc1));
        }
        for (const name of ['dashboard', 'inventory'] as const) {
          const worker = h.startWorker(name, { batchSize: 97 });
          await worker.waitFor(await h.lastSeqFor(name), 30_000);
          await worker.stop();
          const live = await h.view(name);
          const letters = () => h.db.database.db.withSchema(SCHEMA).selectFrom('projection_dead_letters').select(['seq', 'error']).where('projection', '=', name).orderBy('seq').execute();
          const lettered = await letters();
          const paths = { 'in memory': {}, 'past its memory bound': { memoryRows }, 'batch by batch': { inMemory: false } };
          for (const [path, options] of Object.entries(paths)) {
            // Each path must find the dead letters itself.
            await h.db.database.db.withSchema(SCHEMA).deleteFrom('projection_dead_letters').where('projection', '=', name).execute();
            await rebuildProjection({ database: h.db.database, schema: SCHEMA, nc: h.nc, servers: h.natsUrl, namespace: h.ns, projection: h.projection(name), batchSize, timeZone: TIME_ZONE, log: silentLog, ...options });
            assert.deepEqual(await h.view(name), live, `${name}, ${path}: the rebuilt tables differ from the live worker's`);
            assert.deepEqual(await letters(), lettered, `${name}, ${path}: the dead letters differ`);
          }
        }
        await h.stop();
      }),
      { numRuns: 3 },
    );
  });

  it('a replay reads the same events off its plain socket as through nats.js', async () => {
    const h = await harness();
    await h.appendAll(new PlantModel({ sites: ['1', '2', '3'], seed: 11 }).take(3000));
    const read = async (via: 'socket' | 'nats.js') => {
      const replay = await StreamReplay.open({ servers: h.natsUrl, stream: streamName(h.ns, 'site'), filter: `${h.ns}.site.>`, via }, h.ns, 700);
      const events: Array<{ seq: number; ts: number; subject: string; siteId: string; name: string | undefined; payload: number[] }> = [];
      try {
        for (let batch = await replay.take(3000, 'any'); batch.length > 0; batch = await replay.take(3000, 'any')) {
          for (const e of batch) events.push({ seq: e.seq, ts: e.ts, subject: e.subject, siteId: e.siteId, name: e.name, payload: [...e.payload] });
          replay.ack();
        }
      } finally {
        await replay.close();
      }
      return events;
    };
    const plain = await read('socket');
    assert.equal(plain.length, 3000);
    assert.deepEqual(plain, await read('nats.js'));
  });

  it('the plain socket refuses what it does not speak, so the replay reads through nats.js', async () => {
    const handler = { delivery() {}, status() {}, read() {}, ended() {} };
    await assert.rejects(DeliverySocket.open(['tls://127.0.0.1:4222'], 'x', '_INBOX.x', handler), DeliverySocketUnsupported);
    await assert.rejects(DeliverySocket.open(['ws://127.0.0.1:4222'], 'x', '_INBOX.x', handler), DeliverySocketUnsupported);
  });

  it('a replay whose consumer is deleted under it fails with a clear error instead of waiting', async () => {
    const h = await harness();
    await h.appendAll(new PlantModel({ sites: ['1'], seed: 9 }).take(50));
    const stream = streamName(h.ns, 'site');
    const replay = await StreamReplay.open({ servers: h.natsUrl, stream, filter: `${h.ns}.site.>` }, h.ns, 10);
    try {
      const first = await replay.take(Number.MAX_SAFE_INTEGER);
      assert.equal(first.length, 10);
      assert.deepEqual(
        first.map((e) => e.seq),
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      const names: string[] = [];
      for await (const c of h.jsm.consumers.list(stream)) if (c.name.includes('_replay_')) names.push(c.name);
      assert.equal(names.length, 1);
      await h.jsm.consumers.delete(stream, names[0]!);
      // Credit ran out after 20 events: the reader waits on the server with requests the deletion answers.
      await assert.rejects(async () => {
        for (;;) {
          const batch = await replay.take(Number.MAX_SAFE_INTEGER);
          if (batch.length === 0) throw new Error('the replay ended quietly');
          replay.ack();
        }
      }, ReplayError);
    } finally {
      await replay.close();
    }
  });

  it('reading a stream that does not exist fails at open, naming it', async () => {
    const h = await harness();
    await assert.rejects(StreamReplay.open({ servers: h.natsUrl, stream: `${h.ns}_nope`, filter: `${h.ns}.site.>` }, h.ns, 10), (e: Error) => e instanceof ReplayError && e.message.includes(`${h.ns}_nope`));
  });
});

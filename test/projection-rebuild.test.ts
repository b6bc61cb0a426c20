/**
 * Rebuilds at log speed: the replay reads the stream in a reader thread, and the
 * rebuild folds its next batch while Postgres commits the one before. Whatever
 * happens on the way (a batch the database refuses, a replay losing its
 * consumer), the rebuilt view is the live one, or the rebuild fails loudly.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { streamName } from '../protocol/subjects.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { ReplayError, StreamReplay } from '../projections/stream-replay.ts';
import { PlantModel } from '../hub/demo/plant-model.ts';
import { ProjectionHarness, SCHEMA, silentLog, TIME_ZONE } from './support/projection-harness.ts';

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

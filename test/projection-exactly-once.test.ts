/**
 * Exactly-once effects, whatever happens: a worker crashing at each point of the
 * batch cycle, redelivered batches, a rebuild swapped in under a live worker,
 * poison events, Postgres and NATS outages. After each, the view must equal a
 * fresh recomputation from the stream.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodePayload } from '../protocol/codec.ts';
import { BatchApplier } from '../projections/batch-applier.ts';
import { CheckpointStore } from '../projections/checkpoint-store.ts';
import { openPostgres } from '../projections/database.ts';
import type { FoldContext, Projection } from '../projections/projection.ts';
import { SimulatedCrash } from '../projections/projection-worker.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { ViewReader } from '../projections/view-reader.ts';
import { PlantModel } from '../hub/demo/plant-model.ts';
import { OwnNatsServer } from './support/nats.ts';
import { ProjectionHarness, SCHEMA, silentLog, TIME_ZONE } from './support/projection-harness.ts';
import { TcpProxy } from '../bench/tcp-proxy.ts';
import { waitFor } from './support/wait-for.ts';
import { streamName } from '../protocol/subjects.ts';

const PROJECTIONS = ['dashboard', 'inventory'] as const;

/** A plant's worth of events over three sites. */
function plantDay(n: number, seed = 7) {
  return new PlantModel({ sites: ['1', '2', '3'], seed }).take(n);
}

async function assertViewIsRecomputation(h: ProjectionHarness, name: string): Promise<void> {
  assert.deepEqual(await h.view(name), await h.recompute(name), `${name}: the view differs from a fresh recomputation from the stream`);
}

async function checkpoint(h: ProjectionHarness, name: string): Promise<number> {
  return (await new CheckpointStore(h.db.database.db, SCHEMA).read(name)).lastSeq;
}

describe('exactly once', () => {
  const harnesses: ProjectionHarness[] = [];
  const harness = async (options?: Parameters<typeof ProjectionHarness.start>[0]) => {
    const h = await ProjectionHarness.start(options);
    harnesses.push(h);
    return h;
  };
  after(() => Promise.allSettled(harnesses.map((h) => h.stop())));

  for (const point of ['beforeCommit', 'afterCommit'] as const) {
    for (const name of PROJECTIONS) {
      it(`${name}: a worker crashing ${point === 'beforeCommit' ? 'before commit' : 'after commit, before the ack'} loses and doubles nothing`, async () => {
        const h = await harness();
        await h.appendAll(plantDay(600));
        const last = await h.lastSeqFor(name);
        let batches = 0;
        let crashedAt = 0;
        const crashing = h.startWorker(name, {
          batchSize: 40,
          faults: {
            [point]: (seq: number) => {
              if (++batches === 3) {
                crashedAt = seq;
                throw new SimulatedCrash(`crash ${point} at ${seq}`);
              }
            },
          },
        });
        await waitFor(() => crashing.state === 'crashed', { timeoutMs: 10_000, what: () => `the worker to crash (it is ${crashing.state})` });
        const committed = await checkpoint(h, name);
        if (point === 'beforeCommit') assert.ok(committed < crashedAt, 'the crashed batch was rolled back');
        else assert.equal(committed, crashedAt, 'the crashed batch was committed');

        const restarted = h.startWorker(name, { batchSize: 40 });
        await restarted.waitFor(last);
        await assertViewIsRecomputation(h, name);
        assert.equal(await checkpoint(h, name), last);
      });
    }
  }

  for (const name of PROJECTIONS) {
    it(`${name}: skips redelivered events at or below the checkpoint (a batch acked too late comes again)`, async () => {
      const h = await harness();
      await h.appendAll(plantDay(400, 11));
      const consumer = () => h.jsm.consumers.info(streamName(h.ns, 'site'), `${h.ns}_projection_${name}`);
      let slowed = false;
      let highest = 0;
      let skipped = 0;
      // The first batch outlives its ack wait: JetStream redelivers it (and what was delivered with it) while the
      // worker holds it; the fault lets go once the server reports the redelivery.
      const worker = h.startWorker(name, {
        batchSize: 20,
        ackWaitMs: 300,
        faults: {
          afterCommit: async (seq: number) => {
            // A batch that moves the position nowhere was all at or below the checkpoint: a redelivery, skipped.
            if (seq <= highest) skipped++;
            highest = Math.max(highest, seq);
            if (slowed) return;
            slowed = true;
            await waitFor(async () => (await consumer()).num_redelivered > 0, { timeoutMs: 10_000, what: 'JetStream to redeliver the unacked batch' });
          },
        },
      });
      await worker.waitFor(await h.lastSeqFor(name), 20_000);
      // Everything delivered has been acked: no redelivery is still on its way.
      await waitFor(async () => (await consumer()).num_ack_pending === 0, { timeoutMs: 10_000, what: 'every delivered event to be acked' });
      assert.ok(skipped > 0, 'a redelivered batch reached the worker and was skipped');
      await assertViewIsRecomputation(h, name);
    });
  }

  it('applies a batch given twice once (the checkpoint commits with the rows)', async () => {
    const h = await harness();
    await h.appendAll(plantDay(100, 5));
    const worker = h.startWorker('dashboard');
    await worker.waitFor(await h.streamLastSeq());
    await worker.stop();
    const before = await h.view('dashboard');
    // Every event again, through the live checkpoint: all are at or below it.
    const store = new CheckpointStore(h.db.database.db, SCHEMA);
    const claim = await store.claim('dashboard');
    const events = (await h.recomputeEvents('dashboard')).slice(-30);
    const applier = new BatchApplier(h.db.database.db, SCHEMA, h.projection('dashboard'), () => '2000-01-01');
    const result = await applier.apply(events, store.cursor('dashboard', claim.fence), { viewSchema: SCHEMA, emit: true });
    assert.equal(result.applied, 0);
    assert.deepEqual(await h.view('dashboard'), before);
  });

  it('a rebuild equals the incremental view, swaps in while the live view serves, and the live worker carries on', async () => {
    const h = await harness();
    const model = new PlantModel({ sites: ['1', '2', '3'], seed: 3 });
    await h.appendAll(model.take(3000));
    const workers = PROJECTIONS.map((name) => h.startWorker(name, { batchSize: 200 }));
    for (const w of workers) await w.waitFor(await h.lastSeqFor(w.name), 20_000);
    const incremental = { dashboard: await h.view('dashboard'), inventory: await h.view('inventory') };

    // While rebuilding: events keep coming, and readers keep reading.
    const reader = new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE);
    let reading = true;
    let reads = 0;
    const readLoop = (async () => {
      while (reading) {
        const d = await reader.dashboard('1');
        assert.ok(d.offset > 0);
        await reader.inventory('2');
        reads++;
      }
    })();
    const appending = h.appendAll(model.take(500));
    for (const name of PROJECTIONS) {
      const result = await rebuildProjection({ database: h.db.database, schema: SCHEMA, nc: h.nc, servers: h.natsUrl, namespace: h.ns, projection: h.projection(name), batchSize: 250, timeZone: TIME_ZONE, log: silentLog });
      assert.ok(result.events > 0);
    }
    await appending;
    for (const w of workers) await w.waitFor(await h.lastSeqFor(w.name), 20_000);
    reading = false;
    await readLoop;
    assert.ok(reads > 0);
    for (const name of PROJECTIONS) await assertViewIsRecomputation(h, name);

    // Nothing came in since: a rebuild now gives exactly the incremental rows.
    for (const name of PROJECTIONS) {
      const now = await h.view(name);
      await rebuildProjection({ database: h.db.database, schema: SCHEMA, nc: h.nc, servers: h.natsUrl, namespace: h.ns, projection: h.projection(name), batchSize: 97, timeZone: TIME_ZONE, log: silentLog });
      assert.deepEqual(await h.view(name), now);
    }
    assert.notDeepEqual(incremental.dashboard, await h.view('dashboard'), 'the later events changed the view');
    // The live indexes kept their names through the swaps.
    const indexes = await h.db.database.db.selectFrom('pg_indexes' as any).select('indexname' as any).where('schemaname' as any, '=', SCHEMA).where('tablename' as any, '=', 'dashboard_entities').orderBy('indexname' as any).execute();
    assert.deepEqual(indexes.map((i: any) => i.indexname), ['dashboard_entities_pk', 'dashboard_entities_recent']);
  });

  it('dead-letters an event it cannot decode or apply, and goes on with the next', async () => {
    const h = await harness();
    await h.append({ event: 'task:update', siteId: '1', data: { id: 1, status: 'pending' } });
    const garbage = await h.appendRaw('1', 'task.updated', Uint8Array.of(0xc1, 0xff, 0x00));
    const malformed = await h.appendRaw('1', 'inventory.updated', encodePayload({ type: 'stock_in', material: { id: 'cement' }, quantity: 'lots' }));
    const last = await h.append({ event: 'task:update', siteId: '1', data: { id: 2, status: 'pending' } });
    await h.append({ event: 'inventory:update', siteId: '1', data: { type: 'stock_in', material: { id: 'sand', unit: 't' }, quantity: 5 } });
    const dashboard = h.startWorker('dashboard');
    const inventory = h.startWorker('inventory');
    await dashboard.waitFor(last);
    await inventory.waitFor(await h.lastSeqFor('inventory'));
    const letters = await h.db.database.db.withSchema(SCHEMA).selectFrom('projection_dead_letters').selectAll().orderBy('seq').execute();
    assert.deepEqual(
      letters.map((l) => [l.projection, l.seq, l.event]),
      [
        ['dashboard', garbage, 'task:update'],
        ['inventory', malformed, 'inventory:update'],
      ],
    );
    assert.match(letters[1]!.error, /quantity must be a finite number/);
    assert.deepEqual([...letters[0]!.payload], [0xc1, 0xff, 0x00]);
    assert.deepEqual((await new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE).dashboard('1')).tasks, { pending: 2 });
    assert.deepEqual((await new ViewReader(h.db.database.db, SCHEMA, TIME_ZONE).inventory('1')).items.map((i) => [i.materialId, i.onHand]), [['sand', 5]]);
  });

  it('isolates an event the database refuses: the batch is split, that event dead-lettered, the rest applied', async () => {
    const h = await harness();
    // A fold that writes what it is given: a NUL byte in text is refused by Postgres (SQLSTATE 22P05/22021).
    const echo: Projection = {
      name: 'echo',
      tables: ['dashboard_sites'],
      filter: (ns) => `${ns}.site.>`,
      async fold(ctx: FoldContext) {
        await ctx.views
          .insertInto('dashboard_sites')
          .values(ctx.events.map((e) => ({ site_id: `${e.siteId}:${e.seq}:${(JSON.parse(Buffer.from(e.payload).toString()) as { tag: string }).tag}`, last_seq: e.seq, last_event_at: new Date(e.ts) })))
          .execute();
      },
    };
    const seqs: number[] = [];
    for (const tag of ['a', 'b', 'bad\u0000tag', 'c', 'd']) seqs.push(await h.appendRaw('9', 'task.updated', Buffer.from(JSON.stringify({ tag }))));
    const events = (await h.recomputeEvents('dashboard')).filter((e) => e.siteId === '9');
    const store = new CheckpointStore(h.db.database.db, SCHEMA);
    const claim = await store.claim('echo');
    const result = await new BatchApplier(h.db.database.db, SCHEMA, echo, () => '').apply(events, store.cursor('echo', claim.fence), { viewSchema: SCHEMA, emit: true });
    assert.deepEqual(result.rejected.map((r) => r.seq), [seqs[2]]);
    assert.equal(result.lastSeq, seqs[4]);
    assert.deepEqual((await h.rows('dashboard_sites')).map((r) => (r.site_id as string).split(':')[2]), ['a', 'b', 'c', 'd']);
    const letters = await h.db.database.db.withSchema(SCHEMA).selectFrom('projection_dead_letters').select(['projection', 'seq', 'error']).execute();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.seq, seqs[2]);
    assert.match(letters[0]!.error, /rejected by the database/);
  });

  it('waits through a Postgres outage, retrying with backoff, and catches up', async () => {
    const h = await harness();
    const pgUrl = new URL(h.db.url!);
    const proxy = await TcpProxy.start({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    pgUrl.port = String(proxy.port);
    const viaProxy = openPostgres(pgUrl.toString());
    try {
      const model = new PlantModel({ sites: ['1', '2'], seed: 21 });
      await h.appendAll(model.take(200));
      const worker = h.startWorker('dashboard', { database: viaProxy, batchSize: 50, maxBackoffMs: 300 });
      await worker.waitFor(await h.streamLastSeq());
      await proxy.cut();
      const during = await h.appendAll(model.take(300));
      await waitFor(() => worker.state === 'retrying', { timeoutMs: 10_000, what: () => `the worker to notice the outage (it is ${worker.state})` });
      assert.ok(worker.position < during, 'nothing can commit while Postgres is away');
      await proxy.restore();
      await worker.waitFor(during, 15_000);
      await assertViewIsRecomputation(h, 'dashboard');
    } finally {
      await proxy.cut();
      await viaProxy.close().catch(() => {});
    }
  });

  it('waits through a NATS restart and catches up, with its durable consumer where it was', async () => {
    const nats = await OwnNatsServer.start();
    try {
      const h = await harness({ natsUrl: nats.url });
      const model = new PlantModel({ sites: ['1', '2'], seed: 33 });
      await h.appendAll(model.take(200));
      const worker = h.startWorker('inventory', { batchSize: 50, maxBackoffMs: 300 });
      await worker.waitFor(await h.lastSeqFor('inventory'));
      // The restart comes once the worker's connection has seen NATS go (not after a guessed pause).
      let disconnected = false;
      void (async () => {
        for await (const s of h.nc.status()) if (s.type === 'disconnect') disconnected = true;
      })();
      await nats.kill();
      await waitFor(() => disconnected, { timeoutMs: 10_000, what: 'the NATS connection to notice the server is gone' });
      await nats.restart();
      // Appends fail until the publisher has reconnected and JetStream has recovered its streams.
      const events = model.take(300);
      await waitFor(
        () =>
          h.append(events[0]!).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 20_000, everyMs: 250, what: 'an append to succeed after the restart' },
      );
      await h.appendAll(events.slice(1));
      await worker.waitFor(await h.lastSeqFor('inventory'), 20_000);
      await assertViewIsRecomputation(h, 'inventory');
    } finally {
      for (const h of harnesses.splice(-1)) await h.stop().catch(() => {});
      await nats.stop();
    }
  });

  it('runs one worker per projection: a second stands by and takes over when the first goes', async () => {
    const h = await harness();
    const model = new PlantModel({ sites: ['1'], seed: 8 });
    await h.appendAll(model.take(100));
    const first = h.startWorker('dashboard');
    await first.waitFor(await h.streamLastSeq());
    const second = h.startWorker('dashboard');
    await waitFor(() => second.state !== 'starting', { timeoutMs: 10_000, what: 'the second worker to try for the lock' });
    assert.equal(second.state, 'standby');
    await first.stop();
    const last = await h.appendAll(model.take(100));
    await second.waitFor(last, 15_000);
    assert.equal(second.state, 'active');
    await assertViewIsRecomputation(h, 'dashboard');
  });
});

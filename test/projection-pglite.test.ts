/**
 * Smoke test of the embedded database (DATABASE_URL unset): the same runner,
 * folds and reader on PGlite; a rebuild asked over NATS, as the CLI asks the
 * process that owns the embedded database; a second process refused its files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../hub/config.ts';
import { ensureStreams } from '../hub/streams.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { loadProjectionsConfig } from '../projections/config.ts';
import { DatabaseInUseError, openDatabase } from '../projections/database.ts';
import { ProjectionRunner, rebuildSubject } from '../projections/projection-runner.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { silentLog } from './support/projection-harness.ts';

describe('projections on the embedded database (PGlite)', () => {
  const ns = uniqueNamespace('pgl');
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-pglite-'));
  let runner: ProjectionRunner;
  let pub: HubPublisher;

  before(async () => {
    const nc = await connect({ servers: NATS_URL });
    await ensureStreams(nc, await jetstreamManager(nc), loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL }));
    await nc.close();
    const config = loadProjectionsConfig({ HUB_NAMESPACE: ns, NATS_URL, HUB_DATA_DIR: dataDir, PROJECTIONS_PUSH_INTERVAL_MS: '100' });
    assert.equal(config.databaseUrl, undefined);
    runner = await ProjectionRunner.start({ config, log: silentLog });
    await runner.ready;
    pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
  });

  after(async () => {
    await pub?.close();
    await runner?.stop();
    await dropNamespace(ns);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('folds events into the views and serves them', async () => {
    assert.equal(runner.database.kind, 'pglite');
    await pub.sendBatchStarted(1, { id: 'b1', volume: 8 });
    await pub.sendBatchCompleted(1, { id: 'b1', volume: 8 });
    await pub.sendVehicleUpdate(1, { id: 'T1', status: 'delivering' });
    const last = await pub.sendStockMovement(1, 'stock_in', { id: 'sand', unit: 't', threshold: 5 }, 12);
    await runner.worker('dashboard')!.waitFor(last);
    await runner.worker('inventory')!.waitFor(last);
    const view = await runner.reader.dashboard('1');
    assert.equal(view.production.volume, 8);
    assert.deepEqual(view.vehicles, { delivering: 1 });
    assert.deepEqual((await runner.reader.inventory('1')).items.map((i) => [i.materialId, i.onHand]), [['sand', 12]]);
  });

  it('rebuilds when asked over NATS by another process, to the same view', async () => {
    const before = await runner.reader.dashboard('1');
    const nc = await connect({ servers: NATS_URL });
    try {
      const reply = (await nc.request(rebuildSubject(ns), JSON.stringify({ projection: 'dashboard' }), { timeout: 30_000 })).json<{ ok: boolean; result: { lastSeq: number } }>();
      assert.equal(reply.ok, true);
      // It rebuilt up to the live checkpoint: the four events, maybe the dashboard's own pushes, no further than live.
      assert.ok(reply.result.lastSeq >= 4 && reply.result.lastSeq <= runner.worker('dashboard')!.position, `rebuilt to ${reply.result.lastSeq}`);
    } finally {
      await nc.close();
    }
    // The same view (its offset may have moved past the dashboard's own pushes).
    const { offset: _a, ...was } = before;
    const { offset: _b, ...now } = await runner.reader.dashboard('1');
    assert.deepEqual(now, was);
  });

  it('refuses a second process its files (PGlite is single-process)', async () => {
    // Pretend another live process holds the lock file.
    const { writeFileSync, readFileSync } = await import('node:fs');
    const lock = join(dataDir, 'pglite', 'hub-process.pid');
    const mine = readFileSync(lock, 'utf8');
    writeFileSync(lock, String(process.ppid));
    try {
      await assert.rejects(openDatabase({ databaseUrl: undefined, dataDir }), DatabaseInUseError);
    } finally {
      writeFileSync(lock, mine);
    }
  });
});

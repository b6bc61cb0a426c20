/** ProjectionRunner's life cycle: a stop at any moment of its start finishes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../hub/config.ts';
import { ensureStreams } from '../hub/streams.ts';
import { loadProjectionsConfig } from '../projections/config.ts';
import { ProjectionRunner } from '../projections/projection-runner.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { silentLog } from './support/projection-harness.ts';

describe('ProjectionRunner', () => {
  const ns = uniqueNamespace('runner');
  let db: TestDatabase;

  before(async () => {
    const nc = await connect({ servers: NATS_URL });
    await ensureStreams(nc, await jetstreamManager(nc), loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL }));
    await nc.close();
    const pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
    await pub.sendTaskUpdate(1, { id: 't1', status: 'loading' });
    await pub.close();
    db = await createTestDatabase();
  });

  after(async () => {
    await db?.drop();
    await dropNamespace(ns);
  });

  it('stopped while its workers are still activating, stops', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      // Given a runner whose workers have just started (ready) but are still claiming and placing consumers
      const runner = await ProjectionRunner.start({ config: loadProjectionsConfig({ HUB_NAMESPACE: ns, NATS_URL }), log: silentLog, database: db.database });
      await runner.ready;
      // When it is stopped at once, then the stop finishes (it once waited forever for a batch)
      const stopped = await Promise.race([runner.stop().then(() => true), new Promise((r) => setTimeout(r, 15_000, false))]);
      assert.equal(stopped, true, `round ${round}: stop() finished within 15 s`);
    }
  });
});

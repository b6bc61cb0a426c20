/** While a process opens its embedded database, the projections CLI's requests get an answer saying so. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { OpeningResponder, rebuildSubject, statusSubject } from '../projections/index.ts';
import { NATS_URL, uniqueNamespace } from './support/nats.ts';

describe('OpeningResponder', () => {
  const ns = uniqueNamespace('open');
  let nc: NatsConnection;
  before(async () => {
    nc = await connect({ servers: NATS_URL });
  });
  after(() => nc.close());

  it('answers status and rebuild requests with ok: false and the reason until stopped, then leaves them to the runner', async () => {
    const responder = await OpeningResponder.start(NATS_URL, ns, 'still opening the embedded database: retry in a few seconds', pino({ level: 'silent' }));
    for (const subject of [statusSubject(ns), rebuildSubject(ns)]) {
      const reply = await nc.request(subject, '{}', { timeout: 5000 });
      assert.deepEqual(reply.json(), { ok: false, error: 'still opening the embedded database: retry in a few seconds' });
    }
    await responder.stop();
    // Unanswered now: "no responders", or a timeout while the server still drops the closed connection's interest.
    await assert.rejects(nc.request(statusSubject(ns), '', { timeout: 1000 }), /no responders|timeout/);
  });

  it('does nothing, and does not throw, without NATS', async () => {
    const responder = await OpeningResponder.start('nats://127.0.0.1:1', ns, 'x', pino({ level: 'silent' }));
    await responder.stop();
  });
});

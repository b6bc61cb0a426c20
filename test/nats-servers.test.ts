/**
 * Server lists for a NATS cluster: NATS_URL may name every node, comma-separated,
 * and HUB_STREAM_REPLICAS says how many copies streams and buckets keep. Bad values
 * fail at start, naming the variable.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../hub/config.ts';
import { loadProjectionsConfig, ProjectionsConfigError } from '../projections/config.ts';
import { natsServers, NatsServersError } from '../protocol/publisher.ts';
import { dropNamespace, uniqueNamespace } from './support/nats.ts';
import { startTestHub } from './support/test-hub.ts';

describe('natsServers', () => {
  it('splits a comma-separated NATS_URL into one entry per node, trimmed', () => {
    assert.deepEqual(natsServers('nats://127.0.0.1:4222, nats://127.0.0.1:4223,,nats://127.0.0.1:4224 '), ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223', 'nats://127.0.0.1:4224']);
  });

  it('takes a list, and lists whose entries are themselves comma-separated', () => {
    assert.deepEqual(natsServers(['nats://a:1', 'nats://b:2,nats://c:3']), ['nats://a:1', 'nats://b:2', 'nats://c:3']);
  });

  it('accepts host:port without a scheme, as nats.js does', () => {
    assert.deepEqual(natsServers('127.0.0.1:4222'), ['127.0.0.1:4222']);
  });

  it('refuses an empty list and entries that are not NATS URLs', () => {
    assert.throws(() => natsServers(' , '), NatsServersError);
    assert.throws(() => natsServers([]), NatsServersError);
    assert.throws(() => natsServers('http://127.0.0.1:4222'), /not a NATS URL/);
    assert.throws(() => natsServers('nats://127.0.0.1:4222,nats://[bad'), /not a NATS URL/);
  });
});

describe('cluster settings of the hub and the projection workers', () => {
  const base = { HUB_JWT_SECRET: 'x'.repeat(32) };

  it('keeps a list NATS_URL as given and defaults HUB_STREAM_REPLICAS to 1', () => {
    const c = loadConfig({ ...base, NATS_URL: 'nats://n1:4222,nats://n2:4222' });
    assert.equal(c.natsUrl, 'nats://n1:4222,nats://n2:4222');
    assert.equal(c.streamReplicas, 1);
    assert.equal(loadConfig({ ...base, HUB_STREAM_REPLICAS: '3' }).streamReplicas, 3);
  });

  it('refuses replicas outside 1..5, naming HUB_STREAM_REPLICAS', () => {
    for (const bad of ['0', '6', '2.5', 'three']) assert.throws(() => loadConfig({ ...base, HUB_STREAM_REPLICAS: bad }), (e: Error) => e instanceof ConfigError && /HUB_STREAM_REPLICAS/.test(e.message));
  });

  it('refuses a bad entry in NATS_URL at start, naming the variable', () => {
    assert.throws(() => loadConfig({ ...base, NATS_URL: 'nats://n1:4222,http://n2' }), (e: Error) => e instanceof ConfigError && /NATS_URL/.test(e.message));
    assert.throws(() => loadProjectionsConfig({ NATS_URL: 'nats://n1:4222,http://n2' }), (e: Error) => e instanceof ProjectionsConfigError && /NATS_URL/.test(e.message));
    assert.equal(loadProjectionsConfig({ NATS_URL: 'nats://n1:4222, nats://n2:4222' }).natsUrl, 'nats://n1:4222, nats://n2:4222');
  });

  it('refuses to start on a single nats-server with HUB_STREAM_REPLICAS=3, saying what it needs', async () => {
    const ns = uniqueNamespace('hcr');
    try {
      await assert.rejects(startTestHub({ HUB_NAMESPACE: ns, HUB_STREAM_REPLICAS: '3' }), (e: Error) => e.name === 'StreamReplicasError' && /HUB_STREAM_REPLICAS=3/.test(e.message) && /cluster of at least 3 nodes/.test(e.message));
    } finally {
      await dropNamespace(ns);
    }
  });
});

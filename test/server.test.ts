/**
 * startServer's defaults for a development machine: with no token key it signs
 * with a secret kept in a file, so it listens on loopback only unless HUB_HOST
 * is set explicitly. And its start as a person sees it: the port opens before
 * NATS answers, /healthz says what it waits for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Server, startServer } from '../hub/server.ts';
import { dropNamespace, freePort, NATS_URL, uniqueNamespace } from './support/nats.ts';
import { TcpProxy } from '../bench/tcp-proxy.ts';
import { waitFor } from './support/wait-for.ts';

const SECRET = 'server-test-secret-of-at-least-32-chars';

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** An address of this machine other than loopback, if it has one. */
function lanAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

describe('startServer on a development machine', () => {
  const ns = uniqueNamespace('srv');
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-server-'));

  after(async () => {
    await dropNamespace(ns);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function withServer(env: Record<string, string>, check: (server: Server) => Promise<void>): Promise<void> {
    const server = await startServer({ env: { NATS_URL, HUB_NAMESPACE: ns, HUB_DATA_DIR: dataDir, HUB_PORT: '0', HUB_PROJECTIONS: 'off', HUB_LOG_LEVEL: 'silent', ...env } });
    try {
      await check(server);
    } finally {
      await server.stop();
    }
  }

  it('with the development secret, listens on 127.0.0.1 only', { timeout: 30_000 }, async () => {
    await withServer({}, async (server) => {
      assert.equal(server.config.host, '127.0.0.1');
      assert.ok(await answers('127.0.0.1', server.hub.port));
      const lan = lanAddress();
      if (lan !== undefined) assert.equal(await answers(lan, server.hub.port), false, `not reachable on ${lan}`);
    });
  });

  it('with the development secret and HUB_HOST set, listens where HUB_HOST says', { timeout: 30_000 }, async () => {
    await withServer({ HUB_HOST: '0.0.0.0' }, async (server) => assert.equal(server.config.host, '0.0.0.0'));
  });

  it('with a configured key, listens on every interface by default', { timeout: 30_000 }, async () => {
    await withServer({ HUB_JWT_SECRET: SECRET }, async (server) => assert.equal(server.config.host, '0.0.0.0'));
  });
});

describe('startServer while NATS does not answer yet', () => {
  const ns = uniqueNamespace('srvw');
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-server-wait-'));
  let proxy: TcpProxy;

  after(async () => {
    await proxy?.cut();
    await dropNamespace(ns);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function healthz(port: number): Promise<{ status: number; body: any } | undefined> {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    return res === undefined ? undefined : { status: res.status, body: await res.json() };
  }

  async function firstAnswer(port: number): Promise<{ status: number; body: any }> {
    let answer: { status: number; body: any } | undefined;
    await waitFor(async () => (answer = await healthz(port)) !== undefined, { timeoutMs: 30_000, what: `the hub on port ${port} to answer /healthz` });
    return answer!;
  }

  it('opens its port at once: /healthz is 503 naming what it waits for, then 200 once NATS answers', { timeout: 60_000 }, async () => {
    // NATS behind a cut proxy: the hub retries, and meanwhile says why it is not ready.
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(NATS_URL).port) });
    await proxy.cut();
    const port = await freePort();
    const natsUrl = `nats://127.0.0.1:${proxy.port}`;
    const starting = startServer({ env: { NATS_URL: natsUrl, HUB_NAMESPACE: ns, HUB_DATA_DIR: dataDir, HUB_PORT: String(port), HUB_PROJECTIONS: 'off', HUB_JWT_SECRET: SECRET, HUB_LOG_LEVEL: 'silent' } });
    const waiting = await firstAnswer(port);
    assert.equal(waiting.status, 503);
    assert.equal(waiting.body.status, 'starting');
    assert.deepEqual(waiting.body.waitingFor, { nats: `NATS at ${natsUrl}` });
    await proxy.restore();
    const server = await starting;
    try {
      const ready = await healthz(port);
      assert.equal(ready?.status, 200);
      assert.equal(ready?.body.status, 'ok');
      assert.deepEqual(ready?.body.waitingFor, {});
    } finally {
      await server.stop();
    }
  });

  it('stops a start in progress when its signal is aborted, closing the port', { timeout: 60_000 }, async () => {
    await proxy.cut();
    const port = await freePort();
    const abort = new AbortController();
    const starting = startServer({ env: { NATS_URL: `nats://127.0.0.1:${proxy.port}`, HUB_NAMESPACE: ns, HUB_DATA_DIR: dataDir, HUB_PORT: String(port), HUB_PROJECTIONS: 'off', HUB_JWT_SECRET: SECRET, HUB_LOG_LEVEL: 'silent' }, signal: abort.signal });
    assert.equal((await firstAnswer(port)).status, 503);
    abort.abort();
    await assert.rejects(starting);
    assert.equal(await answers('127.0.0.1', port), false, 'the port is closed again');
  });
});

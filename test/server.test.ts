/**
 * startServer's defaults for a development machine: with no token key it signs
 * with a secret kept in a file, so it listens on loopback only unless HUB_HOST
 * is set explicitly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Server, startServer } from '../hub/server.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';

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

/** The README's path for a newcomer: `npm start` with nothing configured, a token, an event from publisher to client. */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HubPublisher } from '../protocol/publisher.ts';
import { freePort } from './support/nats.ts';
import { Recorder } from './support/recorder.ts';
import { waitFor } from './support/wait-for.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);

/** The environment of a fresh machine: nothing of the hub's configured. */
function freshEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUB_') && k !== 'NATS_URL' && !k.startsWith('NODE_TEST') && !k.startsWith('npm_')) env[k] = v;
  return { ...env, ...extra };
}

function which(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '' && existsSync(join(dir, cmd))) return join(dir, cmd);
  throw new Error(`${cmd} not found on PATH`);
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const until = (check: () => Promise<boolean>, timeoutMs: number, what: () => string) => waitFor(check, { timeoutMs, what, everyMs: 200 });

describe('npm start on a fresh machine (embedded nats-server, development secret)', () => {
  let dataDir: string;
  let hubPort: number;
  let natsPort: number;
  let child: ChildProcess;
  let output = '';

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hub-start-'));
    hubPort = await freePort();
    natsPort = await freePort();
    child = spawn(which('npm'), ['start'], { cwd: ROOT, env: freshEnv({ HUB_DATA_DIR: dataDir, HUB_PORT: String(hubPort), HUB_EMBEDDED_NATS_PORT: String(natsPort) }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  });

  after(() => {
    // Whatever a failed test left running: the npm process group (npm, tsx, the hub and its nats-server).
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers GET /healthz at once with 503 and what it waits for, then 200 once it has started its own nats-server', async () => {
    // Polled often: the 503 lasts at least as long as nats-server takes to launch.
    const seen: Array<{ status: number; body: any }> = [];
    const deadline = Date.now() + 30_000;
    while (seen.at(-1)?.status !== 200) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for /healthz 200; answers: ${JSON.stringify(seen.slice(-3))}; output so far:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${hubPort}/healthz`).catch(() => undefined);
      if (res !== undefined) seen.push({ status: res.status, body: await res.json() });
      await new Promise((r) => setTimeout(r, 10));
    }
    const first = seen[0]!;
    assert.equal(first.status, 503, 'the port opens before the hub is ready');
    assert.equal(first.body.status, 'starting');
    assert.ok(Object.keys(first.body.waitingFor).some((step) => step === 'nats-server' || step === 'nats' || step === 'streams'), JSON.stringify(first.body));
    const health = await (await fetch(`http://127.0.0.1:${hubPort}/healthz`)).json();
    assert.equal(health.status, 'ok');
    assert.equal(health.namespace, 'plant');
    assert.equal(health.uws, 'native');
    assert.ok(await answers(natsPort), 'the embedded nats-server listens on HUB_EMBEDDED_NATS_PORT');
    assert.ok(existsSync(join(dataDir, 'nats')), 'its store is under HUB_DATA_DIR');
    assert.ok(existsSync(join(dataDir, 'dev-jwt-secret')), 'a development secret was made under HUB_DATA_DIR');
    assert.match(output, /development secret: listening on 127\.0\.0\.1 only/, 'it says why it is on loopback only');
  });

  it('delivers an event from HubPublisher to a HubClient of that site, with a token from the token CLI, and not to another site', async () => {
    const env = freshEnv({ HUB_DATA_DIR: dataDir });
    const token1 = (await run('npx', ['tsx', 'hub/token-cli.ts', '--sub', 'newcomer', '--sites', '1'], { cwd: ROOT, env })).stdout.trim();
    const token2 = (await run('npm', ['run', '--silent', 'token', '--', '--sub', 'other', '--sites', '2'], { cwd: ROOT, env })).stdout.trim();
    for (const token of [token1, token2]) assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const url = `ws://127.0.0.1:${hubPort}/ws`;
    const site1 = await Recorder.connect(url, token1);
    const site2 = await Recorder.connect(url, token2);
    await site1.client.subscribeSite(1);
    await site2.client.subscribeSite(2);
    const pub = await HubPublisher.connect({ servers: `nats://127.0.0.1:${natsPort}`, namespace: 'plant' });
    try {
      const offset = await pub.sendTaskUpdate(1, { id: 'first-task', status: 'loading' });
      await pub.sendTaskUpdate(2, { id: 'marker' });
      await site1.waitFor((r) => r.some((e) => e.name === 'task:update'));
      await site2.waitFor((r) => r.some((e) => e.name === 'task:update'));
      await site1.settle();
      assert.deepEqual(site1.of('task:update').map((e) => [e.data, e.meta?.offset]), [[{ id: 'first-task', status: 'loading' }, offset]]);
      assert.deepEqual(site2.of('task:update').map((e) => e.data.id), ['marker']);
    } finally {
      await pub.close();
      site1.close();
      site2.close();
    }
  });

  it('stops the hub and its nats-server on SIGTERM', async () => {
    // To npm's process only, as `docker stop` signals a container's first process.
    process.kill(child.pid!, 'SIGTERM');
    await exited(child, 20_000);
    await until(async () => !(await answers(hubPort)), 5000, () => 'the hub port to close');
    await until(async () => !(await answers(natsPort)), 5000, () => 'the embedded nats-server to stop');
  });
});

describe('npm start without nats-server installed and no NATS_URL', () => {
  it('exits non-zero with a message naming nats-server and NATS_URL', async () => {
    // A PATH holding only node and sh (npm runs scripts with sh): no nats-server on it.
    const bin = mkdtempSync(join(tmpdir(), 'hub-bin-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'hub-nonats-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      symlinkSync(which('sh'), join(bin, 'sh'));
      const env = freshEnv({ PATH: bin, HUB_DATA_DIR: dataDir, HUB_PORT: String(await freePort()), HUB_EMBEDDED_NATS_PORT: String(await freePort()) });
      const child = spawn(which('npm'), ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout!.resume();
      const { code } = await exited(child, 30_000);
      assert.notEqual(code, 0);
      assert.match(stderr, /nats-server is not installed/);
      assert.match(stderr, /NATS_URL/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

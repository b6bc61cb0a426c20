/**
 * Launches a local `nats-server -js` with its store under the data folder when
 * no NATS_URL is configured, so `npm start` runs on a fresh machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from './logger.ts';

export class EmbeddedNatsError extends Error {
  override readonly name = 'EmbeddedNatsError';
}

export interface EmbeddedNats {
  readonly url: string;
  /** Stops the server if this process launched it. */
  stop(): Promise<void>;
}

export async function startEmbeddedNats(dataDir: string, port: number, log: Logger): Promise<EmbeddedNats> {
  const url = `nats://127.0.0.1:${port}`;
  if (await speaksNats(port)) {
    log.info({ url }, 'a nats-server already answers on the embedded port; using it');
    return { url, stop: async () => {} };
  }
  const storeDir = resolve(join(dataDir, 'nats'));
  mkdirSync(storeDir, { recursive: true });
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<Error>((resolvePromise) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      resolvePromise(
        e.code === 'ENOENT'
          ? new EmbeddedNatsError('nats-server is not installed: install it (Debian: apt-get install nats-server) or set NATS_URL to a running NATS server with JetStream')
          : new EmbeddedNatsError(`could not launch nats-server: ${e.message}`, { cause: e }),
      );
    });
    child.once('exit', (code) => resolvePromise(new EmbeddedNatsError(`nats-server exited with code ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  const ready = waitUntilListening(port, 10_000);
  const outcome = await Promise.race([ready.then(() => undefined), exited]);
  if (outcome instanceof Error) throw outcome;
  log.info({ url, storeDir, pid: child.pid }, 'embedded nats-server started (set NATS_URL to use another)');
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  return { url, stop: () => stopChild(child, killOnExit) };
}

async function stopChild(child: ChildProcess, killOnExit: () => void): Promise<void> {
  process.off('exit', killOnExit);
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** True when something on the port greets like a NATS server. */
function speaksNats(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (v: boolean) => {
      socket.destroy();
      resolvePromise(v);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (d) => done(d.toString().startsWith('INFO ')));
  });
}

async function waitUntilListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await speaksNats(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new EmbeddedNatsError(`nats-server did not answer on port ${port} within ${timeoutMs} ms`);
}

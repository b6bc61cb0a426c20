/**
 * The hub, with JetStream in the path: the hub in one process, HubPublisher
 * appending in another, both against the shared nats-server under a namespace
 * of the run's own (deleted afterwards).
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../hub/config.ts';
import { ChildServer } from '../child-server.ts';
import { findNatsServerPid } from '../proc-stats.ts';
import { dropNamespace } from './nats-namespace.ts';
import type { RunningTarget, TargetStartOptions } from './target.ts';

/**
 * The Node flags docs/operating.md recommends for a hub process, so the bench measures the hub as it should
 * run. BENCH_HUB_NODE_FLAGS replaces them (space-separated; empty for V8's defaults) to show what they change.
 */
export const HUB_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** glibc malloc arenas the hub process may use (docs/operating.md); BENCH_HUB_MALLOC_ARENA_MAX replaces it (empty: glibc's default). */
export const HUB_MALLOC_ARENA_MAX = '2';

function hubMallocEnv(): Record<string, string> {
  const arenas = process.env.BENCH_HUB_MALLOC_ARENA_MAX ?? HUB_MALLOC_ARENA_MAX;
  return arenas === '' ? {} : { MALLOC_ARENA_MAX: arenas };
}

export function hubNodeFlags(): readonly string[] {
  const override = process.env.BENCH_HUB_NODE_FLAGS;
  return override === undefined ? HUB_NODE_FLAGS : override.split(' ').filter((f) => f !== '');
}

export async function startHub(opts: TargetStartOptions): Promise<RunningTarget> {
  const namespace = `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const jwtSecret = randomBytes(32).toString('base64url');
  const env = {
    NATS_URL: opts.natsUrl,
    HUB_NAMESPACE: namespace,
    HUB_JWT_SECRET: jwtSecret,
    HUB_PORT: '0',
    HUB_HOST: '127.0.0.1',
    HUB_LOG_LEVEL: 'warn',
    // Bench users have one connection each, and all come from 127.0.0.1: these caps are not under test.
    HUB_MAX_CONNECTIONS_PER_USER: '1000000',
    HUB_CONNECTIONS_PER_IP_PER_SECOND: '1000000',
    ...(opts.writeDelayMs === undefined ? {} : { HUB_WRITE_DELAY_MS: String(opts.writeDelayMs) }),
  };
  // What the hub runs with, said in the report: the latency coalescing costs is read against it.
  const config = loadConfig({ HUB_WRITE_DELAY_MS: process.env.HUB_WRITE_DELAY_MS, HUB_WRITE_MAX_FRAMES: process.env.HUB_WRITE_MAX_FRAMES });
  const writeDelay = opts.writeDelayMs ?? config.writeDelayMs;
  const server = await ChildServer.start({ entry: 'hub-server.ts', env: { ...env, ...hubMallocEnv() }, nodeFlags: hubNodeFlags() });
  let producer: ChildServer | undefined;
  try {
    producer = await ChildServer.start({ entry: 'hub-producer.ts', env });
  } catch (e) {
    await server.stop();
    throw e;
  }
  const natsPort = Number(new URL(opts.natsUrl).port || 4222);
  return {
    name: 'hub',
    protocol: 'hub',
    host: '127.0.0.1',
    port: server.port,
    server,
    producer,
    natsPid: findNatsServerPid(natsPort),
    jwtSecret,
    metricsUrl: `http://127.0.0.1:${server.port}/metrics`,
    resumes: opts.resume,
    notes: [
      `namespace ${namespace}`,
      `hub node flags: ${hubNodeFlags().join(' ') || '(none: V8 defaults)'}, MALLOC_ARENA_MAX ${hubMallocEnv().MALLOC_ARENA_MAX ?? '(glibc default)'}`,
      `write delay ${writeDelay} ms, at most ${config.writeMaxFrames} frames per window (HUB_WRITE_DELAY_MS, HUB_WRITE_MAX_FRAMES)`,
    ],
    produce: (plan) => producer.produce(plan),
    async stop() {
      await Promise.allSettled([producer.stop(), server.stop()]);
      await dropNamespace(opts.natsUrl, namespace).catch(() => {});
    },
  };
}

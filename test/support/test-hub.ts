/** A real hub in this process, on a free port, in a namespace of its own. */
import { SignJWT } from 'jose';
import { loadConfig, type HubConfig } from '../../hub/config.ts';
import { Hub } from '../../hub/hub.ts';
import { createLogger } from '../../hub/logger.ts';
import { HubPublisher } from '../../protocol/publisher.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './nats.ts';
import type { Clock } from '../../hub/clock.ts';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export interface TestHub {
  readonly hub: Hub;
  readonly ns: string;
  readonly natsUrl: string;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string;
  /** Signs an HS256 token with the hub's secret. */
  token(claims: { sub: string; sites?: unknown; role?: string; aud?: string; expiresIn?: string | number }): Promise<string>;
  publisher(): Promise<HubPublisher>;
  /** Stops the hub and publishers; with `drop` (default) deletes the namespace's streams. */
  stop(options?: { drop?: boolean }): Promise<void>;
}

/** `options.clock`: the hub's time for token expiry, idle sockets and redelivery (a TestClock the test moves). */
export async function startTestHub(env: Record<string, string> = {}, overrides: Partial<HubConfig> = {}, options: { clock?: Clock } = {}): Promise<TestHub> {
  const ns = env.HUB_NAMESPACE ?? uniqueNamespace();
  const natsUrl = env.NATS_URL ?? NATS_URL;
  // On a clock the test moves, held frames would wait for the test to move it: no write delay unless the test sets one.
  const writeDelay = options.clock === undefined ? {} : { HUB_WRITE_DELAY_MS: '0' };
  const config = loadConfig({ HUB_JWT_SECRET: TEST_SECRET, ...writeDelay, ...env, HUB_NAMESPACE: ns, NATS_URL: natsUrl, HUB_PORT: '0', HUB_HOST: '127.0.0.1' }, overrides);
  const hub = await Hub.start(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), { clock: options.clock });
  const publishers: HubPublisher[] = [];
  return {
    hub,
    ns,
    natsUrl,
    wsUrl: `ws://127.0.0.1:${hub.port}/ws`,
    httpUrl: `http://127.0.0.1:${hub.port}`,
    token: (claims) => signToken(TEST_SECRET, claims),
    async publisher() {
      const p = await HubPublisher.connect({ servers: natsUrl, namespace: ns });
      publishers.push(p);
      return p;
    },
    async stop(options) {
      await Promise.allSettled(publishers.map((p) => p.close()));
      await hub.stop();
      if (options?.drop ?? true) await dropNamespace(ns, natsUrl);
    },
  };
}

export async function signToken(secret: string, claims: { sub: string; sites?: unknown; role?: string; aud?: string; expiresIn?: string | number }): Promise<string> {
  let jwt = new SignJWT({ sites: claims.sites ?? [], role: claims.role ?? 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(claims.sub).setIssuedAt();
  jwt = jwt.setExpirationTime(claims.expiresIn ?? '1h');
  if (claims.aud !== undefined) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(new TextEncoder().encode(secret));
}

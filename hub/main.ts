/**
 * `npm start`: runs a hub from the environment. Without NATS_URL it launches an
 * embedded nats-server; without a token key it uses a dev secret (see `npm run token`).
 */
import { ConfigError, loadConfig } from './config.ts';
import { devSecretPath, loadOrCreateDevSecret } from './dev-secrets.ts';
import { type EmbeddedNats, startEmbeddedNats } from './embedded-nats.ts';
import { Hub } from './hub.ts';
import { createLogger } from './logger.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  const { auth } = config;
  if (auth.secret === undefined && auth.jwksUrl === undefined && auth.publicKey === undefined) {
    const secret = loadOrCreateDevSecret(config.dataDir);
    log.warn({ file: devSecretPath(config.dataDir) }, 'no HUB_JWT_SECRET, HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY: using a development secret; mint tokens with `npm run token`');
    config = loadConfig({ ...process.env, HUB_JWT_SECRET: secret });
  }
  let embedded: EmbeddedNats | undefined;
  if (config.natsUrl === undefined) {
    embedded = await startEmbeddedNats(config.dataDir, config.embeddedNatsPort, log);
    config = loadConfig({ ...process.env, HUB_JWT_SECRET: config.auth.secret, NATS_URL: embedded.url });
  }
  const hub = await Hub.start(config, log);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: refusing new sockets, closing sessions with 4503, flushing cursors');
    // Bounded: a stuck flush must not keep a rolling restart waiting.
    const timeout = new Promise((resolve) => setTimeout(resolve, config.drainTimeoutMs).unref());
    await Promise.race([hub.stop().then(() => embedded?.stop()), timeout]);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((e: Error) => {
  console.error(`hub failed to start: ${e.message}`);
  process.exit(1);
});

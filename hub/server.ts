/**
 * What `npm start` runs: a hub and, in the same process, the projection workers
 * that feed its views. Without NATS_URL it launches an embedded nats-server;
 * without a token key it uses a dev secret (see `npm run token`) and then
 * listens on 127.0.0.1 unless HUB_HOST says otherwise; without
 * DATABASE_URL the views live in an embedded PGlite under the data folder.
 * `HUB_PROJECTIONS=off` runs the hub alone (workers then run with `npm run
 * projections`; the hub still serves the views when DATABASE_URL is set).
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { loadProjectionsConfig, type ProjectionsConfig } from '../projections/config.ts';
import { openPostgres, type ProjectionDatabase } from '../projections/database.ts';
import { ProjectionRunner } from '../projections/projection-runner.ts';
import { ViewReader } from '../projections/view-reader.ts';
import { ConfigError, type HubConfig, loadConfig } from './config.ts';
import { devSecretPath, loadOrCreateDevSecret } from './dev-secrets.ts';
import { type EmbeddedNats, startEmbeddedNats } from './embedded-nats.ts';
import { Hub } from './hub.ts';
import { createLogger, type Logger } from './logger.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface ServerOptions {
  readonly env?: Env;
  /** Extra routes for the hub (the demo page). */
  readonly mount?: (app: TemplatedApp) => void;
}

export interface Server {
  readonly config: HubConfig;
  readonly projectionsConfig: ProjectionsConfig;
  readonly hub: Hub;
  /** The in-process workers, unless `HUB_PROJECTIONS=off`. */
  readonly projections: ProjectionRunner | undefined;
  readonly log: Logger;
  stop(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<Server> {
  let env: Env = options.env ?? process.env;
  let config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const { auth } = config;
  if (auth.secret === undefined && auth.jwksUrl === undefined && auth.publicKey === undefined) {
    const secret = loadOrCreateDevSecret(config.dataDir);
    log.warn({ file: devSecretPath(config.dataDir) }, 'no HUB_JWT_SECRET, HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY: using a development secret; mint tokens with `npm run token`');
    // A secret in a file on a developer's machine is no key for a network: loopback only, unless asked.
    if ((env.HUB_HOST ?? '').trim() === '') {
      env = { ...env, HUB_HOST: '127.0.0.1' };
      log.warn({ host: '127.0.0.1' }, 'development secret: listening on 127.0.0.1 only; set HUB_HOST=0.0.0.0 to accept other machines (better: configure a real key)');
    }
    env = { ...env, HUB_JWT_SECRET: secret };
    config = loadConfig(env);
  }
  const withProjections = (env.HUB_PROJECTIONS ?? 'on').toLowerCase();
  if (withProjections !== 'on' && withProjections !== 'off') throw new ConfigError(`HUB_PROJECTIONS=${JSON.stringify(env.HUB_PROJECTIONS)} must be on or off`);
  let embedded: EmbeddedNats | undefined;
  if (config.natsUrl === undefined) {
    embedded = await startEmbeddedNats(config.dataDir, config.embeddedNatsPort, log);
    env = { ...env, NATS_URL: embedded.url };
    config = loadConfig(env);
  }
  const projectionsConfig = loadProjectionsConfig(env);
  let projections: ProjectionRunner | undefined;
  let readerDb: ProjectionDatabase | undefined;
  let reader: ViewReader | undefined;
  try {
    if (withProjections === 'on') {
      projections = await ProjectionRunner.start({ config: projectionsConfig, log: log.child({ component: 'projections' }) });
      reader = projections.reader;
    } else if (projectionsConfig.databaseUrl !== undefined) {
      readerDb = openPostgres(projectionsConfig.databaseUrl);
      reader = new ViewReader(readerDb.db, projectionsConfig.schema, projectionsConfig.timeZone);
    }
    const hub = await Hub.start(config, log, { reader, mount: options.mount });
    return {
      config,
      projectionsConfig,
      hub,
      projections,
      log,
      async stop() {
        await hub.stop();
        await projections?.stop();
        await readerDb?.close();
        await embedded?.stop();
      },
    };
  } catch (e) {
    await projections?.stop();
    await readerDb?.close();
    await embedded?.stop();
    throw e;
  }
}

/**
 * What `npm start` runs: a hub and, in the same process, the projection workers
 * that feed its views. Without NATS_URL it launches an embedded nats-server;
 * without a token key it uses a dev secret (see `npm run token`) and then
 * listens on 127.0.0.1 unless HUB_HOST says otherwise; without
 * DATABASE_URL the views live in an embedded PGlite under the data folder.
 * `HUB_PROJECTIONS=off` runs the hub alone (workers then run with `npm run
 * projections`; the hub still serves the views when DATABASE_URL is set).
 *
 * The port opens first (`/healthz` 503 saying what it waits for), then the
 * embedded nats-server and the database start side by side. Sockets wait only
 * for NATS: the embedded database can take half a minute to open the first
 * time, and until then only the views answer 503.
 */
import type { TemplatedApp } from 'uWebSockets.js';
// The light parts of projections, for what happens before the port opens; the rest (kysely, pg, PGlite) is
// imported after it opens: a person sees the port sooner.
import { loadProjectionsConfig, type ProjectionsConfig } from '../projections/config.ts';
import { claimPglite, pglitePath } from '../projections/embedded-lock.ts';
import type { ProjectionDatabase, ProjectionRunner } from '../projections/index.ts';
import { ConfigError, type HubConfig, loadConfig } from './config.ts';
import { devSecretPath, loadOrCreateDevSecret } from './dev-secrets.ts';
import { type EmbeddedNats, startEmbeddedNats } from './embedded-nats.ts';
import { Hub, type HubOptions } from './hub.ts';
import { createLogger, type Logger } from './logger.ts';
import { StartProgress } from './start-progress.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface ServerOptions {
  readonly env?: Env;
  /** Extra routes for the hub (the demo page). */
  readonly mount?: (app: TemplatedApp) => void;
  /** Aborting stops a start in progress (Ctrl-C while NATS is still awaited): startServer then rejects. */
  readonly signal?: AbortSignal;
}

export interface Server {
  readonly config: HubConfig;
  readonly projectionsConfig: ProjectionsConfig;
  readonly hub: Hub;
  /**
   * The in-process workers once their database is open (undefined with `HUB_PROJECTIONS=off`); rejects
   * if it cannot be opened (the hub goes on serving sockets, and says so in the log and the views' 503).
   */
  readonly projections: Promise<ProjectionRunner | undefined>;
  readonly log: Logger;
  stop(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<Server> {
  let env: Env = options.env ?? process.env;
  let config = loadConfig(env);
  const log = createLogger(config.logLevel, 'hub', config.logFormat);
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
  }
  const withProjections = (env.HUB_PROJECTIONS ?? 'on').toLowerCase();
  if (withProjections !== 'on' && withProjections !== 'off') throw new ConfigError(`HUB_PROJECTIONS=${JSON.stringify(env.HUB_PROJECTIONS)} must be on or off`);
  const embeddedNats = config.natsUrl === undefined;
  // The embedded server's URL is known before it runs: the hub is built with it and connects once it answers.
  if (embeddedNats) env = { ...env, NATS_URL: `nats://127.0.0.1:${config.embeddedNatsPort}` };
  config = loadConfig(env);
  const projectionsConfig = loadProjectionsConfig(env);
  const embeddedDatabase = withProjections === 'on' && projectionsConfig.databaseUrl === undefined;
  // Before the port opens: a second hub on this data folder is told at once which process holds it.
  if (embeddedDatabase) claimPglite(pglitePath(projectionsConfig.dataDir));

  const progress = new StartProgress(log);
  let runner: ProjectionRunner | undefined;
  let readerDb: ProjectionDatabase | undefined;
  let viewsFailure: string | undefined;
  let reader: HubOptions['reader'] = () => runner?.reader;
  if (withProjections === 'off' && projectionsConfig.databaseUrl !== undefined) {
    const { openPostgres, ViewReader } = await import('../projections/index.ts');
    readerDb = openPostgres(projectionsConfig.databaseUrl);
    reader = new ViewReader(readerDb.db, projectionsConfig.schema, projectionsConfig.timeZone);
  }
  const unavailable = () => viewsFailure ?? (progress.isPending('database') ? `views are starting: waiting for ${progress.waitingFor().database}; retry shortly` : 'views are starting; retry shortly');
  const hub = await Hub.listen(config, log, { reader: withProjections === 'on' || readerDb !== undefined ? reader : undefined, unavailable, mount: options.mount, progress });
  log.info({ url: `http://${config.host}:${hub.port}/healthz` }, 'HTTP open: /healthz answers 503 with what the hub waits for, then 200 once it serves sockets');

  let embedded: EmbeddedNats | undefined;
  const natsStarted = embeddedNats ? startNats() : Promise.resolve(undefined);
  async function startNats(): Promise<EmbeddedNats> {
    progress.begin('nats-server', `the embedded nats-server on 127.0.0.1:${config.embeddedNatsPort}`);
    try {
      embedded = await startEmbeddedNats(config.dataDir, config.embeddedNatsPort, log);
      progress.end('nats-server');
      return embedded;
    } catch (e) {
      progress.abandon('nats-server');
      throw e;
    }
  }
  let stopping = false;
  let served!: (ok: boolean) => void;
  const socketsServed = new Promise<boolean>((resolve) => (served = resolve));
  const projections = withProjections === 'on' ? startProjections() : Promise.resolve(undefined);
  async function startProjections(): Promise<ProjectionRunner> {
    const where = projectionsConfig.databaseUrl === undefined ? `the embedded database in ${pglitePath(projectionsConfig.dataDir)} (a first start takes up to a minute)` : 'Postgres';
    // After the embedded nats-server: the workers' connection would retry (and warn) against a server not yet
    // up, and a start that fails for want of NATS must not wait for (or cut short) a first database creation.
    await natsStarted;
    progress.begin('database', where);
    try {
      // And after the hub serves sockets: loading the projections' modules and opening the database share this
      // thread, and sockets come first.
      if (!(await socketsServed)) throw new Error('the hub did not start');
      const { OpeningResponder, openDatabase, ProjectionRunner } = await import('../projections/index.ts');
      const opening = embeddedDatabase ? await OpeningResponder.start(config.natsUrl!, config.namespace, `process ${process.pid} is still opening ${where}: retry in a few seconds`, log) : undefined;
      const database = await openDatabase(projectionsConfig).finally(() => opening?.stop());
      if (stopping) {
        await database.close();
        throw new Error('stopped while the views database was opening');
      }
      runner = await ProjectionRunner.start({ config: projectionsConfig, log: log.child({ component: 'projections' }), database });
      progress.end('database', 'views database open: the views API answers', { database: database.kind });
      return runner;
    } catch (e) {
      progress.abandon('database');
      if (stopping || !(await socketsServed)) throw e;
      viewsFailure = `views unavailable: ${(e as Error).message}`;
      log.error({ err: (e as Error).message }, 'the views database did not open: sockets are served, the views API answers 503 (restart to retry; see README, Troubleshooting)');
      throw e;
    }
  }
  projections.catch(() => {});

  const stopAll = async () => {
    stopping = true;
    await hub.stop();
    // A database still opening is not waited for: it is closed once open, and a creation cut short by the
    // process's exit is redone at the next start (openPglite).
    const started = runner ?? (progress.isPending('database') ? undefined : await projections.catch(() => undefined));
    await started?.stop();
    await started?.database.close();
    await readerDb?.close();
    await natsStarted.catch(() => {});
    await embedded?.stop();
  };
  const onAbort = () => void hub.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    options.signal?.throwIfAborted();
    await natsStarted;
    await hub.connect();
    options.signal?.throwIfAborted();
    served(true);
  } catch (e) {
    served(false);
    await stopAll();
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return { config, projectionsConfig, hub, projections, log, stop: stopAll };
}

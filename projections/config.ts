/**
 * The projection workers' configuration: read from the environment once,
 * validated, frozen. A bad value fails fast naming the variable. Shares
 * HUB_NAMESPACE, NATS_URL and HUB_DATA_DIR with the hub.
 */
import { type Env, EnvSettings } from '../protocol/env-settings.ts';
import { isValidNamespace } from '../protocol/subjects.ts';
import { DEFAULT_FOLD_MEMORY_ROWS } from './fold-memory.ts';

export interface ProjectionsConfig {
  readonly namespace: string;
  /** NATS_URL (one URL, or a comma-separated list: every node of a cluster), or the hub's embedded server (`nats://127.0.0.1:<HUB_EMBEDDED_NATS_PORT>`). */
  readonly natsUrl: string;
  /** Real Postgres; undefined means embedded PGlite under `<dataDir>/pglite`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  /** Postgres schema holding every projection table. */
  readonly schema: string;
  /** Most events a live worker folds per transaction (batches are what has arrived, up to this). */
  readonly batchSize: number;
  /** Events a rebuild folds per transaction: larger, since it replays a backlog. */
  readonly rebuildBatchSize: number;
  /** Most rows a rebuild's fold holds in memory, written once at the end; past it, the rebuild goes on batch by batch. */
  readonly rebuildMemoryRows: number;
  /** IANA time zone whose calendar day "today's production" means. */
  readonly timeZone: string;
  /** Least time between two `dashboard:update` pushes of one site. */
  readonly pushIntervalMs: number;
  /** How long JetStream waits for a batch's ack before redelivering it. */
  readonly ackWaitMs: number;
  /** Longest wait between retries while NATS or Postgres is down. */
  readonly maxBackoffMs: number;
  readonly logLevel: string;
}

export class ProjectionsConfigError extends Error {
  override readonly name = 'ProjectionsConfigError';
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;

export function loadProjectionsConfig(env: Env = process.env, overrides: Partial<ProjectionsConfig> = {}): ProjectionsConfig {
  const settings = new EnvSettings(env, (message) => new ProjectionsConfigError(message));
  const namespace = env.HUB_NAMESPACE ?? 'plant';
  if (!isValidNamespace(namespace)) throw new ProjectionsConfigError(`HUB_NAMESPACE=${JSON.stringify(namespace)} must match [A-Za-z0-9_-]{1,32}`);
  const schema = settings.text('PROJECTIONS_SCHEMA') ?? 'projections';
  if (!SCHEMA_PATTERN.test(schema)) throw new ProjectionsConfigError(`PROJECTIONS_SCHEMA=${JSON.stringify(schema)} must match ${SCHEMA_PATTERN}`);
  const timeZone = settings.text('PROJECTIONS_TIMEZONE') ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone });
  } catch {
    throw new ProjectionsConfigError(`PROJECTIONS_TIMEZONE=${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Asia/Shanghai)`);
  }
  const embeddedPort = settings.int('HUB_EMBEDDED_NATS_PORT', 4223, 1, 65535);
  const config: ProjectionsConfig = {
    namespace,
    natsUrl: settings.natsUrl('NATS_URL') ?? `nats://127.0.0.1:${embeddedPort}`,
    databaseUrl: settings.text('DATABASE_URL'),
    dataDir: env.HUB_DATA_DIR ?? 'data',
    schema,
    batchSize: settings.int('PROJECTIONS_BATCH_SIZE', 10_000, 1, 100_000),
    rebuildBatchSize: settings.int('PROJECTIONS_REBUILD_BATCH_SIZE', 50_000, 1, 200_000),
    rebuildMemoryRows: settings.int('PROJECTIONS_REBUILD_MEMORY_ROWS', DEFAULT_FOLD_MEMORY_ROWS, 0, 100_000_000),
    timeZone,
    pushIntervalMs: settings.int('PROJECTIONS_PUSH_INTERVAL_MS', 500, 50, 3_600_000),
    ackWaitMs: settings.int('PROJECTIONS_ACK_WAIT_MS', 60_000, 1000, 3_600_000),
    maxBackoffMs: settings.int('PROJECTIONS_MAX_BACKOFF_MS', 10_000, 100, 600_000),
    logLevel: env.PROJECTIONS_LOG_LEVEL ?? env.HUB_LOG_LEVEL ?? 'info',
    ...overrides,
  };
  return Object.freeze(config);
}

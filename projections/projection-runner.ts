/**
 * Runs every projection of a namespace: migrates the database, connects to NATS,
 * starts one worker per projection and the dashboard pusher, and answers rebuild
 * and status requests (`<ns>.projections.rebuild`, `.status`) so the CLI can
 * rebuild or read inside the process that owns an embedded database. Start returns at once; Postgres or NATS being
 * down only delays `ready` (each is retried with backoff and logged).
 */
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { backoffDelay, sleep } from './backoff.ts';
import type { ProjectionsConfig } from './config.ts';
import { DashboardProjection } from './dashboard-projection.ts';
import { DashboardPusher } from './dashboard-pusher.ts';
import { openDatabase, type ProjectionDatabase } from './database.ts';
import { describeError } from './db-errors.ts';
import { InventoryProjection } from './inventory-projection.ts';
import { migrateToLatest } from './migrations/index.ts';
import { connectNats } from './nats-connection.ts';
import type { Projection } from './projection.ts';
import { readProjectionStatus, statusSubject } from './projection-status.ts';
import { ProjectionWorker, type WorkerFaults } from './projection-worker.ts';
import { rebuildProjection, type RebuildResult } from './rebuild.ts';
import { ViewReader } from './view-reader.ts';

/** Every projection, by name. */
export function allProjections(): Projection[] {
  return [new DashboardProjection(), new InventoryProjection()];
}

/** The subject the runner answers rebuild requests on (not captured by any stream). */
export function rebuildSubject(ns: string): string {
  return `${ns}.projections.rebuild`;
}

export interface ProjectionRunnerOptions {
  readonly config: ProjectionsConfig;
  readonly log: Logger;
  /** An open database to use (closed by its owner); default: opened from the config and closed on stop. */
  readonly database?: ProjectionDatabase;
  /** Fault injection for tests, by projection name. */
  readonly faults?: Readonly<Record<string, WorkerFaults>>;
}

export class ProjectionRunner {
  readonly config: ProjectionsConfig;
  readonly database: ProjectionDatabase;
  readonly reader: ViewReader;
  /** Resolves once migrated, connected and every worker started. */
  readonly ready: Promise<void>;
  readonly #log: Logger;
  readonly #ownsDatabase: boolean;
  readonly #stop = new AbortController();
  readonly #workers = new Map<string, ProjectionWorker>();
  #nc: NatsConnection | undefined;
  #pusher: DashboardPusher | undefined;
  #admin: Subscription | undefined;
  #status: Subscription | undefined;

  private constructor(options: ProjectionRunnerOptions, database: ProjectionDatabase, ownsDatabase: boolean) {
    this.config = options.config;
    this.#log = options.log;
    this.database = database;
    this.#ownsDatabase = ownsDatabase;
    this.reader = new ViewReader(database.db, options.config.schema, options.config.timeZone);
    this.ready = this.#boot(options.faults ?? {});
    this.ready.catch(() => {});
  }

  /**
   * @example
   * const runner = await ProjectionRunner.start({ config: loadProjectionsConfig(), log });
   * await runner.ready;
   * console.log(await runner.reader.dashboard('7'));
   */
  static async start(options: ProjectionRunnerOptions): Promise<ProjectionRunner> {
    const database = options.database ?? (await openDatabase(options.config));
    options.log.info({ database: database.kind, location: database.location, schema: options.config.schema }, 'projections: database');
    return new ProjectionRunner(options, database, options.database === undefined);
  }

  worker(name: string): ProjectionWorker | undefined {
    return this.#workers.get(name);
  }

  get workers(): readonly ProjectionWorker[] {
    return [...this.#workers.values()];
  }

  /** Rebuilds one projection in this process (see rebuild.ts). */
  async rebuild(name: string, options: { force?: boolean } = {}): Promise<RebuildResult> {
    await this.ready;
    const projection = allProjections().find((p) => p.name === name);
    if (projection === undefined) throw new Error(`no projection named ${JSON.stringify(name)} (known: ${allProjections().map((p) => p.name).join(', ')})`);
    const { schema, namespace, rebuildBatchSize, rebuildMemoryRows, timeZone } = this.config;
    return rebuildProjection({ database: this.database, schema, nc: this.#nc!, servers: this.config.natsUrl, namespace, projection, batchSize: rebuildBatchSize, memoryRows: rebuildMemoryRows, timeZone, log: this.#log, force: options.force });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.ready.catch(() => {});
    this.#pusher?.stop();
    await this.#admin?.drain().catch(() => {});
    await this.#status?.drain().catch(() => {});
    await Promise.all([...this.#workers.values()].map((w) => w.stop()));
    await this.#nc?.drain().catch(() => {});
    if (this.#ownsDatabase) await this.database.close();
  }

  async #boot(faults: Readonly<Record<string, WorkerFaults>>): Promise<void> {
    const { config } = this;
    const log = this.#log;
    const signal = this.#stop.signal;
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      try {
        await migrateToLatest(this.database.db, config.schema);
        break;
      } catch (e) {
        const delay = backoffDelay(attempt, config.maxBackoffMs);
        log.warn({ attempt, retryInMs: delay, err: describeError((e as Error).cause ?? e) }, 'projections: cannot migrate the database (Postgres unreachable?); retrying');
        await sleep(delay, signal);
      }
    }
    const nc = await connectNats(config.natsUrl, `projections-${config.namespace}`, log, config.maxBackoffMs, signal);
    this.#nc = nc;
    if (signal.aborted) return;
    this.#pusher = new DashboardPusher(this.reader, jetstream(nc), config.namespace, config.pushIntervalMs, log);
    for (const projection of allProjections()) {
      const worker = new ProjectionWorker({
        projection,
        database: this.database,
        schema: config.schema,
        nc,
        namespace: config.namespace,
        batchSize: config.batchSize,
        ackWaitMs: config.ackWaitMs,
        maxBackoffMs: config.maxBackoffMs,
        timeZone: config.timeZone,
        log,
        onCommitted: projection.name === 'dashboard' ? (batch) => this.#pusher?.touch(batch.sites) : undefined,
        faults: faults[projection.name],
      });
      this.#workers.set(projection.name, worker.start());
    }
    // A queue group: with several runners on one Postgres, one of them answers.
    this.#admin = nc.subscribe(rebuildSubject(config.namespace), {
      queue: 'projections',
      callback: (_err, msg) => {
        let request: { projection?: unknown; force?: unknown };
        try {
          request = msg.json();
        } catch {
          request = {};
        }
        this.rebuild(String(request.projection), { force: request.force === true }).then(
          (result) => msg.respond(JSON.stringify({ ok: true, result })),
          (e: Error) => msg.respond(JSON.stringify({ ok: false, error: e.message })),
        );
      },
    });
    this.#status = nc.subscribe(statusSubject(config.namespace), {
      queue: 'projections',
      callback: (_err, msg) => {
        readProjectionStatus(this.database.db, config.schema, [...this.#workers.keys()]).then(
          (projections) => msg.respond(JSON.stringify({ ok: true, projections })),
          (e: Error) => msg.respond(JSON.stringify({ ok: false, error: e.message })),
        );
      },
    });
    log.info({ namespace: config.namespace, projections: [...this.#workers.keys()] }, 'projections: workers started');
  }
}

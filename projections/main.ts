/**
 * `npm run projections`: runs the projection workers alone (production: beside
 * hubs started with HUB_PROJECTIONS=off), until SIGINT or SIGTERM.
 * `npm run projections -- rebuild <name> [--force]`: replays the site stream into
 * fresh tables and swaps them in while the live view keeps serving. With an
 * embedded database the process that owns it does the work (asked over NATS).
 * `npm run projections -- status`: checkpoints, lag and dead letters; like a
 * rebuild, read by the process that holds an embedded database.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { type Logger, pino } from 'pino';
import { CommandLine, connectForCommand, runCommand } from '../protocol/cli/index.ts';
import { streamName } from '../protocol/subjects.ts';
import { loadProjectionsConfig, type ProjectionsConfig, ProjectionsConfigError } from './config.ts';
import { DatabaseInUseError, openDatabase } from './database.ts';
import { migrateToLatest } from './migrations/index.ts';
import { allProjections, ProjectionRunner, rebuildSubject } from './projection-runner.ts';
import { type ProjectionStatus, readProjectionStatus, statusSubject } from './projection-status.ts';
import { rebuildProjection, type RebuildResult } from './rebuild.ts';

const known = allProjections().map((p) => p.name);
const cli = new CommandLine({
  name: 'npm run projections',
  usage: `usage: npm run projections [-- run | rebuild <${known.join('|')}> [--force] | status]`,
  details: `  run                 the projection workers alone, until SIGINT or SIGTERM (default); for hubs
                      started with HUB_PROJECTIONS=off, beside them on DATABASE_URL
  rebuild <name>      replays the site log into fresh tables and swaps them in while the live
                      view keeps serving; with the embedded database, the hub that holds it does it
  --force             rebuild even when the log's oldest events have aged out (from what is left)
  status              checkpoints, lag and the last dead letters of each projection
  -h, --help          this text

Configured by the environment as the hub is (NATS_URL, DATABASE_URL, HUB_DATA_DIR,
HUB_NAMESPACE, PROJECTIONS_*): see docs/projections.md.`,
  options: { force: { type: 'boolean', default: false } },
  positionals: true,
});
const { positionals, values } = cli.parse();
const [command = 'run', name, extra] = positionals;
if (!['run', 'rebuild', 'status'].includes(command)) cli.fail(`unknown command ${JSON.stringify(command)}`);
if (command === 'rebuild' && (name === undefined || !known.includes(name))) cli.fail(name === undefined ? 'rebuild needs a projection name' : `no projection named ${JSON.stringify(name)}`);
if ((command === 'rebuild' ? extra : name) !== undefined) cli.fail(`unexpected argument ${JSON.stringify(command === 'rebuild' ? extra : name)}`);
if (values.force && command !== 'rebuild') cli.fail('--force goes with rebuild');

async function main(): Promise<number> {
  let config: ProjectionsConfig;
  try {
    config = loadProjectionsConfig();
  } catch (e) {
    if (!(e instanceof ProjectionsConfigError)) throw e;
    console.error(`configuration error: ${e.message}`);
    return 2;
  }
  const log = pino({ name: 'projections', level: config.logLevel });
  switch (command) {
    case 'run':
      return run(config, log);
    case 'rebuild': {
      const result = await rebuild(config, log, name!, values.force === true);
      console.log(`rebuilt ${result.projection}: ${result.events} events up to offset ${result.lastSeq} in ${(result.ms / 1000).toFixed(1)} s (${Math.round(result.events / (result.ms / 1000))} events/s), swapped in`);
      return 0;
    }
    default:
      return status(config);
  }
}

async function run(config: ProjectionsConfig, log: Logger): Promise<number> {
  let runner;
  try {
    runner = await ProjectionRunner.start({ config, log });
  } catch (e) {
    if (!(e instanceof DatabaseInUseError)) throw e;
    throw new Error(`process ${e.holder} (a hub started with npm start, or npm run demo) already runs the projection workers on the embedded database ${e.path}; run them apart only beside hubs started with HUB_PROJECTIONS=off, on a shared DATABASE_URL`, { cause: e });
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('stopping: finishing the batch in hand');
  await runner.stop();
  return 0;
}

async function rebuild(config: ProjectionsConfig, log: Logger, name: string, force: boolean): Promise<RebuildResult> {
  const nc = await connectForCommand(config.natsUrl, 'projections-cli');
  try {
    if (config.databaseUrl === undefined) {
      // The embedded database belongs to one process: if a runner has it, it rebuilds.
      try {
        const reply = await nc.request(rebuildSubject(config.namespace), JSON.stringify({ projection: name, force }), { timeout: 3_600_000 });
        const answer = reply.json<{ ok: boolean; result?: RebuildResult; error?: string }>();
        if (!answer.ok) throw new Error(answer.error);
        return answer.result!;
      } catch (e) {
        if (!noResponders(e)) throw e;
      }
    }
    const database = await openDatabase(config);
    try {
      await migrateToLatest(database.db, config.schema);
      const projection = allProjections().find((p) => p.name === name)!;
      return await rebuildProjection({ database, schema: config.schema, nc, servers: config.natsUrl, namespace: config.namespace, projection, batchSize: config.rebuildBatchSize, memoryRows: config.rebuildMemoryRows, timeZone: config.timeZone, log, force });
    } finally {
      await database.close();
    }
  } finally {
    await nc.close();
  }
}

async function status(config: ProjectionsConfig): Promise<number> {
  const nc = await connectForCommand(config.natsUrl, 'projections-cli');
  try {
    const projections = await readStatus(config, nc);
    const stream = streamName(config.namespace, 'site');
    const info = await (await jetstreamManager(nc)).streams.info(stream).catch((e: Error) => {
      throw /stream not found/i.test(e.message) ? new Error(`no event log ${stream} on NATS at ${config.natsUrl}: has a hub run there with HUB_NAMESPACE=${config.namespace}?`, { cause: e }) : e;
    });
    console.log(`stream ${info.config.name}: offsets ${info.state.first_seq}..${info.state.last_seq}, created ${info.created}`);
    for (const p of projections) {
      console.log(`${p.name}: folded up to offset ${p.lastSeq} (stream at ${info.state.last_seq}), updated ${p.updatedAt ?? 'never'}`);
      for (const l of p.deadLetters) console.log(`  dead letter at ${l.seq} (${l.subject}): ${l.error}`);
    }
    return 0;
  } finally {
    await nc.close();
  }
}

async function readStatus(config: ProjectionsConfig, nc: NatsConnection): Promise<readonly ProjectionStatus[]> {
  if (config.databaseUrl === undefined) {
    // The embedded database belongs to one process: if a runner has it, it reads.
    try {
      const reply = await nc.request(statusSubject(config.namespace), '', { timeout: 30_000 });
      const answer = reply.json<{ ok: boolean; projections?: ProjectionStatus[]; error?: string }>();
      if (!answer.ok) throw new Error(answer.error);
      return answer.projections!;
    } catch (e) {
      if (!noResponders(e)) throw e;
    }
  }
  let database;
  try {
    database = await openDatabase(config);
  } catch (e) {
    if (!(e instanceof DatabaseInUseError)) throw e;
    throw new Error(`process ${e.holder} holds the embedded database ${e.path} and did not answer for it (a hub with HUB_PROJECTIONS=off, or one in another namespace?), and only one process can open it: stop that process to read the status, or give both a shared Postgres with DATABASE_URL`, { cause: e });
  }
  try {
    await migrateToLatest(database.db, config.schema);
    return await readProjectionStatus(database.db, config.schema, known);
  } finally {
    await database.close();
  }
}

/** No runner subscribed: nats.js says "no responders" (503). */
function noResponders(e: unknown): boolean {
  return /no responders|503/i.test(String((e as Error).message) + String((e as { code?: unknown }).code));
}

runCommand('npm run projections', main);

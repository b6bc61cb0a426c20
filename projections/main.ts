/**
 * `npm run projections`: runs the projection workers alone (production: beside
 * hubs started with HUB_PROJECTIONS=off), until SIGINT or SIGTERM.
 * `npm run projections -- rebuild <name> [--force]`: replays the site stream into
 * fresh tables and swaps them in while the live view keeps serving. With an
 * embedded database the process that owns it does the work (asked over NATS).
 * `npm run projections -- status`: checkpoints, lag and dead letters.
 */
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Logger, pino } from 'pino';
import { streamName } from '../protocol/subjects.ts';
import { loadProjectionsConfig, type ProjectionsConfig, ProjectionsConfigError } from './config.ts';
import { DatabaseInUseError, openDatabase } from './database.ts';
import { migrateToLatest } from './migrations/index.ts';
import { allProjections, ProjectionRunner, rebuildSubject } from './projection-runner.ts';
import { rebuildProjection, type RebuildResult } from './rebuild.ts';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { force: { type: 'boolean', default: false } } });
const [command = 'run', name] = positionals;

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
      const known = allProjections().map((p) => p.name);
      if (name === undefined || !known.includes(name)) {
        console.error(`usage: npm run projections -- rebuild <${known.join('|')}> [--force]`);
        return 2;
      }
      const result = await rebuild(config, log, name, values.force === true);
      console.log(`rebuilt ${result.projection}: ${result.events} events up to offset ${result.lastSeq} in ${(result.ms / 1000).toFixed(1)} s (${Math.round(result.events / (result.ms / 1000))} events/s), swapped in`);
      return 0;
    }
    case 'status':
      return status(config);
    default:
      console.error('usage: npm run projections [-- run | rebuild <name> [--force] | status]');
      return 2;
  }
}

async function run(config: ProjectionsConfig, log: Logger): Promise<number> {
  const runner = await ProjectionRunner.start({ config, log });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('stopping: finishing the batch in hand');
  await runner.stop();
  return 0;
}

async function rebuild(config: ProjectionsConfig, log: Logger, name: string, force: boolean): Promise<RebuildResult> {
  const nc = await connect({ servers: config.natsUrl, name: 'projections-cli' });
  try {
    if (config.databaseUrl === undefined) {
      // The embedded database belongs to one process: if a runner has it, it rebuilds.
      try {
        const reply = await nc.request(rebuildSubject(config.namespace), JSON.stringify({ projection: name, force }), { timeout: 3_600_000 });
        const answer = reply.json<{ ok: boolean; result?: RebuildResult; error?: string }>();
        if (!answer.ok) throw new Error(answer.error);
        return answer.result!;
      } catch (e) {
        if (!/no responders|503/i.test(String((e as Error).message) + String((e as { code?: unknown }).code))) throw e;
      }
    }
    const database = await openDatabase(config);
    try {
      await migrateToLatest(database.db, config.schema);
      const projection = allProjections().find((p) => p.name === name)!;
      return await rebuildProjection({ database, schema: config.schema, nc, namespace: config.namespace, projection, batchSize: config.rebuildBatchSize, timeZone: config.timeZone, log, force });
    } finally {
      await database.close();
    }
  } finally {
    await nc.close();
  }
}

async function status(config: ProjectionsConfig): Promise<number> {
  const database = await openDatabase(config);
  const nc = await connect({ servers: config.natsUrl, name: 'projections-cli' });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(streamName(config.namespace, 'site'));
    const t = database.db.withSchema(config.schema);
    const checkpoints = await t.selectFrom('projection_checkpoints').selectAll().execute();
    console.log(`stream ${info.config.name}: offsets ${info.state.first_seq}..${info.state.last_seq}, created ${info.created}`);
    for (const p of allProjections()) {
      const cp = checkpoints.find((c) => c.name === p.name);
      const letters = await t.selectFrom('projection_dead_letters').select(['seq', 'subject', 'error']).where('projection', '=', p.name).orderBy('seq', 'desc').limit(5).execute();
      console.log(`${p.name}: folded up to offset ${cp?.last_seq ?? 0} (stream at ${info.state.last_seq}), updated ${cp?.updated_at.toISOString() ?? 'never'}`);
      for (const l of letters) console.log(`  dead letter at ${l.seq} (${l.subject}): ${l.error}`);
    }
    return 0;
  } finally {
    await nc.close();
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(e instanceof DatabaseInUseError ? `${e.message}` : `projections: ${e.message}`);
    process.exit(1);
  },
);

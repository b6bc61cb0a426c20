/**
 * `npm run bench:projections [-- --events 200000 --sites 20 --batch 10000 --rebuild-batch 50000 --rounds 3 --pglite]`:
 * how fast the projections fold the site log into Postgres. Appends a simulated
 * plant's events to a namespace of its own, then measures, per projection:
 * - incremental: a live worker (durable consumer, one transaction + checkpoint
 *   per batch, ack after commit) catching up the whole backlog (once);
 * - per round (`--rounds`, medians reported with their spread): the raw read (a
 *   nats.js ordered consumer reading the projection's events and doing nothing
 *   with them: the ceiling any fold works under) and the rebuild (a replay from the
 *   stream's start into fresh tables, then the swap), one right after the other,
 *   so the two meet the same load on the machine.
 * Goal (issue 13): rebuild ≥ 150,000 events/s into Postgres and ≥ 0.8 × the raw read.
 * Uses NATS_URL (default nats://127.0.0.1:4222) and a fresh database on
 * BENCH_POSTGRES_URL's server (default postgresql://postgres@127.0.0.1:5432/postgres),
 * dropped afterwards; `--pglite` folds into an embedded PGlite instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandLine } from '../protocol/cli/index.ts';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { pino } from 'pino';
import { PlantModel } from '../hub/demo/plant-model.ts';
import { loadConfig } from '../hub/config.ts';
import { ensureStreams } from '../hub/streams.ts';
import { buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { namespaceBuckets, STREAM_KEYS, streamName } from '../protocol/subjects.ts';
import { openPglite, openPostgres, type ProjectionDatabase } from '../projections/database.ts';
import { migrateToLatest } from '../projections/migrations/index.ts';
import { allProjections } from '../projections/projection-runner.ts';
import { ProjectionWorker } from '../projections/projection-worker.ts';
import { rebuildProjection } from '../projections/rebuild.ts';
import { lastSeqMatching } from '../projections/stream-position.ts';
import { median } from './ratio.ts';

const cli = new CommandLine({
  name: 'npm run bench:projections',
  usage: 'usage: npm run bench:projections -- [--events 200000] [--sites 20] [--batch 10000] [--rebuild-batch 50000] [--rounds 3] [--pglite]',
  details: `Appends --events events of a simulated plant to a fresh namespace on NATS_URL (default
nats://127.0.0.1:4222) and, each round, measures the raw ordered-consumer read rate, then the dashboard
and inventory projections folding incrementally and rebuilding into Postgres (BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres; --pglite: the embedded database). Prints events/s
(median of --rounds, with the spread), the ratio to the raw read and the goal (≥ 150 k/s and ≥ 0.8×).`,
  options: {
    events: { type: 'string', default: '200000' },
    sites: { type: 'string', default: '20' },
    batch: { type: 'string', default: '10000' },
    'rebuild-batch': { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    pglite: { type: 'boolean', default: false },
  },
});
const { values } = cli.parse();
for (const name of ['events', 'sites', 'batch', 'rebuild-batch', 'rounds'] as const) if (!(Number(values[name]) >= 1 && Number.isInteger(Number(values[name])))) cli.fail(`--${name} must be a whole number of at least 1`);
const EVENTS = Number(values.events);
const SITES = Number(values.sites);
const BATCH = Number(values.batch);
const REBUILD_BATCH = Number(values['rebuild-batch']);
const ROUNDS = Number(values.rounds);
const GOAL_RATE = 150_000;
const GOAL_RATIO = 0.8;
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const SCHEMA = 'projections';
const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' });

const ns = `bench${Date.now().toString(36)}`;
const nc = await connect({ servers: NATS_URL });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const dbName = `bench_projections_${Date.now().toString(36)}`;
const pgliteDir = values.pglite ? mkdtempSync(join(tmpdir(), 'bench-pglite-')) : undefined;
let database: ProjectionDatabase | undefined;

try {
  await ensureStreams(nc, jsm, loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL }));
  console.log(`appending ${EVENTS} events of a simulated plant (${SITES} sites) to ${streamName(ns, 'site')} ...`);
  const appendStart = performance.now();
  const model = new PlantModel({ sites: Array.from({ length: SITES }, (_, i) => String(i + 1)), seed: 42 });
  const WINDOW = 2000;
  for (let i = 0; i < EVENTS; i += WINDOW) {
    const n = Math.min(WINDOW, EVENTS - i);
    await Promise.all(Array.from({ length: n }, (_, k) => appendToLog(js, buildAppend(ns, model.next()), `${ns}-${i + k}`)));
  }
  const appendSeconds = (performance.now() - appendStart) / 1000;
  console.log(`  appended in ${appendSeconds.toFixed(1)} s (${Math.round(EVENTS / appendSeconds)} events/s, async with msg ids)\n`);

  if (pgliteDir !== undefined) database = await openPglite(pgliteDir);
  else {
    await admin(`create database ${dbName}`);
    const u = new URL(ADMIN_URL);
    u.pathname = `/${dbName}`;
    database = openPostgres(u.toString());
  }
  await migrateToLatest(database.db, SCHEMA);

  const args = process.argv.slice(2).join(' ');
  console.log(`command: npm run bench:projections${args === '' ? '' : ` -- ${args}`}`);
  console.log(`database: ${database.kind}; batch size ${BATCH} live, ${REBUILD_BATCH} rebuild; ${ROUNDS} rounds; node ${process.version}\n`);
  const projections = allProjections();
  const incremental: Record<string, number> = {};
  for (const projection of projections) {
    const last = await lastSeqMatching(nc, streamName(ns, 'site'), projection.filter(ns));
    const worker = new ProjectionWorker({ projection, database, schema: SCHEMA, nc, namespace: ns, batchSize: BATCH, ackWaitMs: 60_000, maxBackoffMs: 1000, timeZone: 'UTC', log });
    const t0 = performance.now();
    worker.start();
    await worker.waitFor(last, 600_000);
    incremental[projection.name] = (await countFiltered(projection.filter(ns))) / ((performance.now() - t0) / 1000);
    await worker.stop();
  }

  const rounds: Array<Record<string, { raw: number; rebuild: number }>> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const figures: Record<string, { raw: number; rebuild: number }> = {};
    for (const projection of projections) {
      const raw = await rawRead(projection.filter(ns), await countFiltered(projection.filter(ns)));
      const result = await rebuildProjection({ database, schema: SCHEMA, nc, servers: NATS_URL, namespace: ns, projection, batchSize: REBUILD_BATCH, timeZone: 'UTC', log });
      figures[projection.name] = { raw, rebuild: result.events / (result.ms / 1000) };
    }
    rounds.push(figures);
    console.log(`round ${round}: ${projections.map((p) => `${p.name} raw read ${k(figures[p.name]!.raw)}, rebuild ${k(figures[p.name]!.rebuild)}`).join('; ')}`);
  }

  const rows: Array<Record<string, string | number>> = [];
  const verdicts: string[] = [];
  for (const projection of projections) {
    const raws = rounds.map((r) => r[projection.name]!.raw);
    const rebuilds = rounds.map((r) => r[projection.name]!.rebuild);
    const raw = median(raws)!;
    const rebuild = median(rebuilds)!;
    const ratio = rebuild / raw;
    rows.push({
      projection: projection.name,
      events: await countFiltered(projection.filter(ns)),
      'incremental events/s': Math.round(incremental[projection.name]!),
      'raw read events/s (median)': Math.round(raw),
      'raw spread': spread(raws),
      'rebuild events/s (median)': Math.round(rebuild),
      'rebuild spread': spread(rebuilds),
      'rebuild / raw': Math.round(ratio * 100) / 100,
    });
    const met = rebuild >= GOAL_RATE && ratio >= GOAL_RATIO;
    verdicts.push(`${projection.name}: rebuild ${k(rebuild)} (goal ≥ ${k(GOAL_RATE)}: ${rebuild >= GOAL_RATE ? 'met' : 'NOT met'}), ${ratio.toFixed(2)}× the raw read (goal ≥ ${GOAL_RATIO}×: ${ratio >= GOAL_RATIO ? 'met' : 'NOT met'}) → ${met ? 'goal met' : 'goal NOT met'}`);
  }
  console.table(rows);
  for (const v of verdicts) console.log(v);
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores (figures from a shared machine move with it)`);
  console.log(JSON.stringify({ bench: 'projections', database: database.kind, events: EVENTS, sites: SITES, batch: BATCH, rebuildBatch: REBUILD_BATCH, rounds, results: rows }));
} finally {
  await database?.close();
  if (pgliteDir !== undefined) rmSync(pgliteDir, { recursive: true, force: true });
  else await admin(`drop database if exists ${dbName} with (force)`).catch(() => {});
  for (const key of STREAM_KEYS) await jsm.streams.delete(streamName(ns, key)).catch(() => {});
  for (const bucket of namespaceBuckets(ns)) await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
  await nc.close();
}

/** Events a filter selects in the site stream. */
async function countFiltered(filter: string): Promise<number> {
  const info = await jsm.streams.info(streamName(ns, 'site'), { subjects_filter: filter });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Reads the events `filter` selects with a nats.js ordered consumer, doing nothing
 * with them: the raw read rate, on this (the main) thread, as an application would read.
 */
async function rawRead(filter: string, count: number): Promise<number> {
  const consumer = await js.consumers.get(streamName(ns, 'site'), { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  const t0 = performance.now();
  let n = 0;
  let messages: { stop(): void } | undefined;
  await new Promise<void>((resolve) => {
    void consumer.consume({ max_messages: REBUILD_BATCH, callback: () => void (++n === count && resolve()) }).then((m) => (messages = m));
  });
  const rate = n / ((performance.now() - t0) / 1000);
  messages?.stop();
  await consumer.delete().catch(() => {});
  return rate;
}

/** `123.4k/s`. */
function k(rate: number): string {
  return `${(rate / 1000).toFixed(1)}k/s`;
}

/** `min–max` in k/s. */
function spread(xs: readonly number[]): string {
  return `${(Math.min(...xs) / 1000).toFixed(0)}–${(Math.max(...xs) / 1000).toFixed(0)}k`;
}

/**
 * `npm run bench:projections [-- --events 200000 --sites 20 --batch 10000 --rebuild-batch 50000 --pglite]`:
 * how fast the projections fold the site log into Postgres. Appends a simulated
 * plant's events to a namespace of its own, then measures, per projection:
 * - incremental: a live worker (durable consumer, one transaction + checkpoint
 *   per batch, ack after commit) catching up the whole backlog;
 * - rebuild: a replay from the stream's start into fresh tables, then the swap.
 * Uses NATS_URL (default nats://127.0.0.1:4222) and a fresh database on
 * BENCH_POSTGRES_URL's server (default postgresql://postgres@127.0.0.1:5432/postgres),
 * dropped afterwards; `--pglite` folds into an embedded PGlite instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
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
import { StreamReplay } from '../projections/stream-replay.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    sites: { type: 'string', default: '20' },
    batch: { type: 'string', default: '10000' },
    'rebuild-batch': { type: 'string', default: '50000' },
    pglite: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(values.events);
const SITES = Number(values.sites);
const BATCH = Number(values.batch);
const REBUILD_BATCH = Number(values['rebuild-batch']);
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
  console.log(`database: ${database.kind}; batch size ${BATCH} live, ${REBUILD_BATCH} rebuild; node ${process.version}\n`);

  // The ceiling the folds work under: reading the stream alone, on the same thread.
  const readStart = performance.now();
  const replay = await StreamReplay.open(nc, ns, streamName(ns, 'site'), `${ns}.site.>`, REBUILD_BATCH);
  let read = 0;
  const lastSeq = (await jsm.streams.info(streamName(ns, 'site'))).state.last_seq;
  for (let batch = await replay.take(lastSeq); batch.length > 0; batch = await replay.take(lastSeq)) {
    read += batch.length;
    replay.ack();
  }
  await replay.close();
  const readSeconds = (performance.now() - readStart) / 1000;
  console.log(`reading the stream alone (no fold): ${read} events in ${readSeconds.toFixed(2)} s = ${Math.round(read / readSeconds)} events/s\n`);

  const rows: Array<Record<string, string | number>> = [];
  for (const projection of allProjections()) {
    const events = await countFiltered(projection.filter(ns));
    const last = await lastSeqMatching(nc, streamName(ns, 'site'), projection.filter(ns));
    const worker = new ProjectionWorker({ projection, database, schema: SCHEMA, nc, namespace: ns, batchSize: BATCH, ackWaitMs: 60_000, maxBackoffMs: 1000, timeZone: 'UTC', log });
    const t0 = performance.now();
    worker.start();
    await worker.waitFor(last, 600_000);
    const incrementalMs = performance.now() - t0;
    await worker.stop();

    const result = await rebuildProjection({ database, schema: SCHEMA, nc, namespace: ns, projection, batchSize: REBUILD_BATCH, timeZone: 'UTC', log });
    rows.push({
      projection: projection.name,
      events,
      'incremental s': round(incrementalMs / 1000),
      'incremental events/s': Math.round(events / (incrementalMs / 1000)),
      'rebuild s': round(result.ms / 1000),
      'rebuild events/s': Math.round(result.events / (result.ms / 1000)),
    });
  }
  console.table(rows);
  console.log(JSON.stringify({ bench: 'projections', database: database.kind, events: EVENTS, sites: SITES, batch: BATCH, rebuildBatch: REBUILD_BATCH, results: rows }));
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

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

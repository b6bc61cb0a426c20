/**
 * `npm run bench:export [-- --events 200000 --sites 20 --runs 3]`: how fast the
 * analytics export streams a log. Appends a simulated plant's events to a
 * namespace of its own, then, each `--runs` times, reads the whole site log:
 * - raw: a bare nats.js ordered consumer, counting messages (the ceiling);
 * - LogReader: records (decoded, filtered, shaped), then encoded as NDJSON and as Parquet;
 * - HTTP: `GET /api/events/site` of a hub in this process, as NDJSON and as Parquet,
 *   read by curl (another process) into /dev/null.
 * Prints the median events/s of each and its ratio to the raw read of the same run,
 * and the median CPU time this process spent per event (user + system; curl's
 * own is not counted): on a shared machine, wall-clock rates move with the load,
 * CPU per event much less.
 * Uses NATS_URL (default nats://127.0.0.1:4222).
 */
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { PlantModel } from '../hub/demo/plant-model.ts';
import { loadConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { createLogger } from '../hub/logger.ts';
import { type ExportFormat, recordEncoder } from '../hub/record-encoder.ts';
import { ensureStreams } from '../hub/streams.ts';
import { buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { LogReader } from '../protocol/replay.ts';
import { namespaceBuckets, STREAM_KEYS, streamName } from '../protocol/subjects.ts';
import { CommandLine } from '../protocol/cli/index.ts';
import { formatRatio, median, ratio } from './ratio.ts';

const cli = new CommandLine({
  name: 'npm run bench:export',
  usage: 'usage: npm run bench:export -- [--events 200000] [--sites 20] [--runs 3]',
  details: `Appends --events events of a simulated plant (--sites sites) to a fresh namespace on NATS_URL
(default nats://127.0.0.1:4222), then exports them --runs times each way: the raw ordered-consumer
read, LogReader records, LogReader + NDJSON / Parquet encoding, and GET /api/events/site over HTTP in
NDJSON and Parquet. Prints events/s (median), CPU µs per event, the ratio to the raw read and the goal
(≥ 100 k events/s); deletes the namespace afterwards.`,
  options: { events: { type: 'string', default: '200000' }, sites: { type: 'string', default: '20' }, runs: { type: 'string', default: '3' } },
});
const { values } = cli.parse();
for (const name of ['events', 'sites', 'runs'] as const) if (!(Number(values[name]) >= 1 && Number.isInteger(Number(values[name])))) cli.fail(`--${name} must be a whole number of at least 1`);
const EVENTS = Number(values.events);
const SITES = Number(values.sites);
const RUNS = Number(values.runs);
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SERVICE_TOKEN = 'bench-export-service-token';

const ns = `benchx${Date.now().toString(36)}`;
const nc = await connect({ servers: NATS_URL });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
let hub: Hub | undefined;

try {
  const config = loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL, HUB_PORT: '0', HUB_HOST: '127.0.0.1', HUB_SERVICE_TOKEN: SERVICE_TOKEN });
  await ensureStreams(nc, jsm, config);
  console.log(`appending ${EVENTS} events of a simulated plant (${SITES} sites) to ${streamName(ns, 'site')} ...`);
  const model = new PlantModel({ sites: Array.from({ length: SITES }, (_, i) => String(i + 1)), seed: 42 });
  for (let i = 0; i < EVENTS; i += 2000) {
    const n = Math.min(2000, EVENTS - i);
    await Promise.all(Array.from({ length: n }, (_, k) => appendToLog(js, buildAppend(ns, model.next()), `${ns}-${i + k}`)));
  }
  const info = await jsm.streams.info(streamName(ns, 'site'));
  console.log(`  ${info.state.messages} events, ${(info.state.bytes / 1e6).toFixed(1)} MB in the stream\n`);
  hub = await Hub.start(config, createLogger('warn'));
  const url = `http://127.0.0.1:${hub.port}/api/events/site`;

  const results: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  /** Times one path: wall clock for the rate, this process's CPU for the cost per event. */
  const measure = async (name: string, read: () => Promise<number>) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const events = await read();
    const c = process.cpuUsage(c0);
    (results[name] ??= []).push((events / (performance.now() - t0)) * 1000);
    (cpu[name] ??= []).push((c.user + c.system) / events);
  };
  for (let run = 1; run <= RUNS; run++) {
    await measure('raw ordered consumer', rawRead);
    await measure('LogReader records', () => readerRead(undefined));
    for (const format of ['ndjson', 'parquet'] as const) await measure(`LogReader + ${format}`, () => readerRead(format));
    for (const format of ['ndjson', 'parquet'] as const) {
      await measure(`HTTP ${format}`, async () => {
        const bytes = await curl(`${url}?format=${format}`);
        if (run === 1) console.log(`  HTTP ${format}: ${(bytes / 1e6).toFixed(1)} MB`);
        return EVENTS;
      });
    }
    console.log(`run ${run}/${RUNS} done`);
  }

  const raw = median(results['raw ordered consumer']!);
  const rows = Object.entries(results).map(([path, rates]) => ({
    path,
    'events/s (median)': Math.round(median(rates)!),
    runs: rates.map((r) => Math.round(r)).join(', '),
    'vs raw': formatRatio(ratio(median(rates), raw)),
    'cpu µs/event': median(cpu[path]!)!.toFixed(2),
    '≥ 100 k/s': median(rates)! >= 100_000 ? 'yes' : 'no',
  }));
  console.log(`\n${EVENTS} events, median of ${RUNS} runs; node ${process.version}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; command: npm run bench:export -- --events ${EVENTS} --sites ${SITES} --runs ${RUNS}`);
  console.table(rows);
  console.log(JSON.stringify({ bench: 'export', events: EVENTS, sites: SITES, runs: RUNS, results: rows }));
} finally {
  await hub?.stop();
  for (const key of STREAM_KEYS) await jsm.streams.delete(streamName(ns, key)).catch(() => {});
  for (const bucket of namespaceBuckets(ns)) await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
  await nc.close();
}

/** The ceiling: nats.js's ordered consumer over the whole log, messages counted in its callback. */
async function rawRead(): Promise<number> {
  const consumer = await js.consumers.get(streamName(ns, 'site'));
  let n = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const messages = await consumer.consume({
    max_messages: 1000,
    callback: (m) => {
      n++;
      if (m.info.pending === 0) done();
    },
  });
  await finished;
  messages.stop();
  await consumer.delete().catch(() => false);
  return n;
}

/** The LogReader path: records, optionally encoded (the bytes are counted and dropped). */
async function readerRead(format: ExportFormat | undefined): Promise<number> {
  const reader = await LogReader.connect({ connection: nc, namespace: ns, stream: 'site' });
  const encoder = format === undefined ? undefined : recordEncoder(format);
  let n = 0;
  let bytes = 0;
  for await (const batch of reader.batches()) {
    n += batch.length;
    if (encoder !== undefined) bytes += encoder.encode(batch).length;
  }
  if (encoder !== undefined) bytes += encoder.end().length;
  if (encoder !== undefined && bytes === 0 && n > 0) throw new Error(`${format} encoded ${n} records into nothing`);
  return n;
}

/** Fetches with curl (its own process), discarding the body; resolves to the bytes received. */
function curl(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-f', '-o', '/dev/null', '-w', '%{size_download}', '-H', `authorization: Bearer ${SERVICE_TOKEN}`, target], (err, stdout) => (err ? reject(err) : resolve(Number(stdout))));
  });
}

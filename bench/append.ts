/**
 * `npm run bench -- append [--events 50000] [--window 512] [--sites 10] [--repeat 3] [--replicas 3] [--nats-url …]`:
 * what WebSocketService's outbox costs against bare JetStream. In one run, per
 * repetition and taking turns:
 * - raw: nats.js `js.publish` with a msg id each, `--window` in flight, payloads
 *   encoded beforehand (the ceiling for appending from Node);
 * - outbox: the seed's `sendTaskUpdate(siteId, task)` called `--events` times
 *   without awaiting (each normalised to its JSON shape, validated, encoded,
 *   queued), `--sends-per-turn` per event-loop turn, then waiting for the drain.
 * Prints events/s of each, medians over repetitions, and outbox/raw (goal ≥ 0.9×).
 * Loopback NATS only, in a namespace of its own, dropped afterwards.
 */
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Decimal } from 'decimal.js';
import { loadConfig } from '../hub/config.ts';
import { ensureStreams } from '../hub/streams.ts';
import { buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { natsServers, WebSocketService } from '../protocol/publisher.ts';
import { cursorBucket, presenceBucket, STREAM_KEYS, streamName } from '../protocol/subjects.ts';
import { formatRatio, median, ratio } from './ratio.ts';

const HELP = `npm run bench -- append [options]
  --events <n>     events per run (default 50000)
  --window <n>     appends in flight, raw and outbox alike (default 512)
  --sites <n>      sites the events are spread over (default 10)
  --repeat <n>     repetitions; figures are medians (default 1)
  --sends-per-turn <n>  outbox sends per event-loop turn, as requests would make them (default 100; 0: all in one synchronous loop)
  --replicas <n>   replicas of the bench's streams, as HUB_STREAM_REPLICAS (default 1; 3 needs a 3-node cluster)
  --nats-url <url> loopback NATS with JetStream (default nats://127.0.0.1:4222); a cluster's nodes comma-separated`;

/** A task row as Prisma gives it: the outbox turns its Date and Decimal into their JSON forms. */
function taskRow(i: number, sites: number) {
  return { id: i, site_id: (i % sites) + 1, status: 'loading', order_id: 1000 + (i % 97), vehicle: { id: 12, plate: '沪A12345' }, volume: new Decimal('8.5'), updated_at: new Date(1_764_576_000_000 + i) };
}

export async function runAppendBench(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { events: { type: 'string', default: '50000' }, window: { type: 'string', default: '512' }, sites: { type: 'string', default: '10' }, repeat: { type: 'string', default: '1' }, 'sends-per-turn': { type: 'string', default: '100' }, replicas: { type: 'string', default: '1' }, 'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const events = positiveInt(values.events, '--events');
  const window = positiveInt(values.window, '--window');
  const sites = positiveInt(values.sites, '--sites');
  const repeat = positiveInt(values.repeat, '--repeat');
  const sendsPerTurn = values['sends-per-turn'] === '0' ? 0 : positiveInt(values['sends-per-turn'], '--sends-per-turn');
  const replicas = positiveInt(values.replicas, '--replicas');
  const url = values['nats-url'];
  const servers = natsServers(url);
  for (const s of servers) if (!/^nats:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(s)) throw new Error(`--nats-url ${s}: the append bench runs against loopback NATS only`);

  const ns = `benchappend${Date.now().toString(36)}`;
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const site = streamName(ns, 'site');
  try {
    await ensureStreams(nc, jsm, loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL: url, HUB_STREAM_REPLICAS: String(replicas) }));
    console.log(`append bench: ${events} task:update events over ${sites} sites, ${window} in flight, outbox sends ${sendsPerTurn === 0 ? 'all in one turn' : `${sendsPerTurn} per turn`}, ${repeat} repetition(s), ${url}, stream ${site} (R${replicas})\n`);
    // Raw publishes the very bytes the outbox would store, built beforehand.
    const prebuilt = Array.from({ length: Math.min(events, 1000) }, (_, i) => buildAppend(ns, { event: 'task:update', siteId: (i % sites) + 1, data: taskRow(i, sites) }));
    const raw: number[] = [];
    const outbox: number[] = [];
    for (let r = 1; r <= repeat; r++) {
      await jsm.streams.purge(site);
      const rawRate = await timeRaw(events, window, (k) => appendToLog(js, prebuilt[k % prebuilt.length]!, `raw-${r}-${k}`));
      raw.push(rawRate);
      await jsm.streams.purge(site);
      const outboxRate = await timeOutbox(url, ns, events, window, sites, sendsPerTurn);
      outbox.push(outboxRate);
      console.log(`run ${r}/${repeat}: raw ${fmt(rawRate)} events/s, outbox ${fmt(outboxRate)} events/s, outbox/raw ${formatRatio(ratio(outboxRate, rawRate))}`);
    }
    const rawMedian = median(raw);
    const outboxMedian = median(outbox);
    const r = ratio(outboxMedian, rawMedian);
    console.log(`\nmedian of ${repeat}: raw js.publish ${fmt(rawMedian)} events/s | WebSocketService outbox ${fmt(outboxMedian)} events/s | outbox/raw ${formatRatio(r)} (goal ≥ 0.90×)${r !== null && r < 0.9 ? '  BELOW GOAL' : ''}`);
    return 0;
  } finally {
    for (const key of STREAM_KEYS) await jsm.streams.delete(streamName(ns, key)).catch(() => {});
    for (const bucket of [presenceBucket(ns), cursorBucket(ns)]) await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
    await nc.close();
  }
}

/** Keeps `window` publishes in flight until `events` are acknowledged; events/s. */
async function timeRaw(events: number, window: number, publish: (k: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const pump = () => {
      while (next < events && next - done < window) {
        publish(next++).then(() => {
          if (++done === events) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  return events / ((performance.now() - start) / 1000);
}

/** Fire-and-forget sends, then the drain; events/s over both, with the service's connect outside the timing. */
async function timeOutbox(url: string, ns: string, events: number, window: number, sites: number, sendsPerTurn: number): Promise<number> {
  const service = await WebSocketService.connect({ servers: url, namespace: ns, maxInFlight: window, outboxCapacity: events, drainTimeoutMs: 120_000, presenceRefreshMs: 60_000 });
  try {
    const start = performance.now();
    // As a service sends: a few per request, requests handled turn by turn, so acks are read between them.
    // One turn for all (sendsPerTurn 0) is the worst case: no ack is read until the loop ends.
    for (let i = 0; i < events; i++) {
      service.sendTaskUpdate((i % sites) + 1, taskRow(i, sites));
      if (sendsPerTurn > 0 && i % sendsPerTurn === sendsPerTurn - 1) await new Promise((resolve) => setImmediate(resolve));
    }
    if (!(await service.flush(120_000))) throw new Error('the outbox did not drain within 120 s');
    const rate = events / ((performance.now() - start) / 1000);
    const { appended, dropped } = service.stats;
    if (appended !== events) throw new Error(`outbox appended ${appended} of ${events} (dropped ${JSON.stringify(dropped)})`);
    return rate;
  } finally {
    await service.close();
  }
}

function positiveInt(v: string | undefined, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} ${v}: a positive integer`);
  return n;
}

function fmt(n: number | null): string {
  return n === null ? 'n/a' : Math.round(n).toLocaleString('en-US');
}

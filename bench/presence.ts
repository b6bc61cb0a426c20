/**
 * `npm run bench -- presence [--users 100000] [--hubs 3] [--sites 1000] [--repeat 3] [--ttl-ms 3000] [--churn 2000] [--out file.json]`:
 * presence at scale, at the PresenceTracker level (bench/presence-sim.ts: the
 * hub's tracker, bucket, watch and writes; connects fed directly instead of by
 * sockets). Per repetition, in a namespace of its own:
 * - bulk: `--users` users connect over `--hubs` hubs at once (one in ten also on
 *   a second hub, one in twenty on a second site): time until every hub's counts
 *   equal the model's exactly, writes, bytes and the largest stored value;
 * - one change: a user connects on one hub, then leaves: time until every other
 *   hub counts it (20 of each, median and max);
 * - churn: `--churn` connects and disconnects per second for 3 s: writes/s,
 *   and time to converge after the last change;
 * - idle: writes/s with no change (heartbeats only);
 * - reads: `stats()` in a hub (what `/api/stats/online` serves) and
 *   `HubPublisher.getOnlineStats()` (one NATS request), median of 20;
 * - crash: a hub's connection dropped without cleanup: time until the others
 *   stop counting its users (bounded by `--ttl-ms`);
 * - baseline: the one-entry-per-hub format this replaced, built from the same
 *   users and put to the same bucket: its size, and whether NATS takes it.
 * Figures are medians over repetitions. In-process: every hub's watch runs on
 * this one thread, so convergence times are upper bounds for separate hubs.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { OnlineStats } from '../protocol/presence.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { presenceBucket } from '../protocol/subjects.ts';
import { PresenceModel } from './presence-model.ts';
import { ensureNamespace, SimulatedHub } from './presence-sim.ts';
import { dropNamespace } from './targets/nats-namespace.ts';
import { formatRatio, median, ratio } from './ratio.ts';

const HELP = `npm run bench -- presence [options]
  --users <n>      simulated users (default 100000)
  --hubs <n>       simulated hubs (default 3)
  --sites <n>      sites the users watch (default 1000)
  --repeat <n>     repetitions; figures are medians (default 3)
  --ttl-ms <n>     the hubs' presence TTL (default 3000: the crash phase waits for it)
  --churn <n>      connects + disconnects per second in the churn phase (default 2000)
  --out <file>     also write the figures as JSON
  --nats-url <url> loopback NATS with JetStream (default nats://127.0.0.1:4222)`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heap in use after a full collection: what the presence state holds, not garbage waiting. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

function sameStats(a: OnlineStats, b: OnlineStats): boolean {
  if (a.users !== b.users || a.connections !== b.connections || a.hubs !== b.hubs) return false;
  const sa = Object.keys(a.sites);
  if (sa.length !== Object.keys(b.sites).length) return false;
  for (const s of sa) if (a.sites[s]!.users !== b.sites[s]?.users || a.sites[s]!.connections !== b.sites[s]?.connections) return false;
  return true;
}

/** Milliseconds from `since` until every hub reports `expected`; throws after `timeoutMs`. */
async function converge(hubs: readonly SimulatedHub[], expected: OnlineStats, since: number, timeoutMs: number, what: string): Promise<number> {
  for (;;) {
    if (hubs.every((h) => sameStats(h.tracker.stats(), expected))) return performance.now() - since;
    if (performance.now() - since > timeoutMs) {
      const got = hubs.map((h) => h.tracker.stats()).map((s) => `${s.users} users/${s.connections} conns/${s.hubs} hubs`);
      const state = hubs.map((h) => JSON.stringify({ writes: h.tracker.writeStats, watch: h.tracker.debugState() }));
      throw new Error(`${what}: not converged within ${timeoutMs} ms (want ${expected.users}/${expected.connections}/${expected.hubs}, got ${got.join('; ')}); hubs: ${state.join('; ')}`);
    }
    await sleep(5);
  }
}

interface RunFigures {
  /** The simulation's own loop of connects and subscriptions (the trackers' bookkeeping and the model's). */
  bulkLoopMs: number;
  /** From the first connect until every hub's counts are exact. */
  bulkConvergeMs: number;
  /** From the last connect until every hub's counts are exact. */
  bulkAfterLastMs: number;
  /** CPU this process (all the simulated hubs) spent in the loop, and from the last connect to exact counts. */
  bulkLoopCpuMs: number;
  bulkAfterLastCpuMs: number;
  bulkWrites: number;
  /** Heap the bulk added: every hub's view of all users, and the bench's own model of them. */
  heapMB: number;
  /** Of which the hubs' (heap freed when they stopped): each holds every user of the cluster. */
  hubsHeapMB: number;
  bulkWriteBytes: number;
  largestValueBytes: number;
  shardsPerHub: number;
  oneChangeP50Ms: number;
  oneChangeMaxMs: number;
  churnWritesPerS: number;
  churnChangesPerS: number;
  churnConvergeMs: number;
  idleWritesPerS: number;
  hubStatsUs: number;
  publisherReadMs: number;
  publisherReplyBytes: number;
  crashExpiryMs: number;
  baselineEntryBytes: number;
  baselinePutAccepted: boolean;
  baselinePutError: string;
}

async function runOnce(url: string, users: number, hubCount: number, siteCount: number, ttlMs: number, churnRate: number): Promise<RunFigures> {
  const ns = `benchpres${Date.now().toString(36)}`;
  await ensureNamespace(url, ns);
  const hubs: SimulatedHub[] = [];
  const pub = await HubPublisher.connect({ servers: url, namespace: ns });
  try {
    for (let h = 0; h < hubCount; h++) hubs.push(await SimulatedHub.start(url, ns, { ttlMs }));
    const model = new PresenceModel(hubCount);
    const writes = () => hubs.reduce((n, h) => n + h.tracker.writeStats.writes + h.tracker.writeStats.deletes, 0);
    const bytes = () => hubs.reduce((n, h) => n + h.tracker.writeStats.bytes, 0);
    const sitesOf = (i: number) => (i % 20 === 0 ? [`${i % siteCount}`, `${(i + 1) % siteCount}`] : [`${i % siteCount}`]);

    // Bulk: every user at once.
    const heap0 = heapAfterGc();
    const w0 = writes();
    const b0 = bytes();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < users; i++) {
      const h = i % hubCount;
      model.connect(hubs[h]!, h, `u${i}`, sitesOf(i));
      // A second device on the next hub: one user, two connections.
      if (i % 10 === 0 && hubCount > 1) model.connect(hubs[(h + 1) % hubCount]!, (h + 1) % hubCount, `u${i}`, sitesOf(i));
    }
    const bulkLoopMs = performance.now() - t0;
    const cpu1 = process.cpuUsage();
    const bulkConvergeMs = await converge(hubs, model.expected(hubCount), t0, 60_000, 'bulk');
    const cpu2 = process.cpuUsage();
    const cpuMs = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user + b.system - a.user - a.system) / 1000;
    // Writes still in flight when counts converged are the bulk's too.
    await sleep(300);
    const bulkWrites = writes() - w0;
    const heapAfterBulk = heapAfterGc();
    const heapMB = (heapAfterBulk - heap0) / 1024 / 1024;
    const bulkWriteBytes = bytes() - b0;

    // One change at a time: visible on every other hub.
    const latencies: number[] = [];
    for (let k = 0; k < 20; k++) {
      const h = k % hubCount;
      const t = performance.now();
      model.connect(hubs[h]!, h, `single${k}`, ['0']);
      latencies.push(await converge(hubs, model.expected(hubCount), t, 10_000, 'one connect'));
      const t2 = performance.now();
      model.disconnect(hubs[h]!, h, `single${k}`, ['0']);
      latencies.push(await converge(hubs, model.expected(hubCount), t2, 10_000, 'one disconnect'));
    }

    // Churn: connects and disconnects at a steady rate for 3 s.
    const churnS = 3;
    const wc = writes();
    const tc = performance.now();
    let churned = 0;
    const live: Array<[number, string, string]> = [];
    for (let tick = 0; tick < churnS * 100; tick++) {
      const due = Math.round(((tick + 1) * churnRate) / 100) - churned;
      for (let j = 0; j < due; j++, churned++) {
        // Each churn user stays about half a second: a disconnect takes the oldest once that many are on.
        if (churned % 2 === 1 && live.length >= churnRate / 4) {
          const [h, user, site] = live.shift()!;
          model.disconnect(hubs[h]!, h, user, [site]);
        } else {
          const h = churned % hubCount;
          const user = `churn${churned}`;
          const site = `${churned % siteCount}`;
          model.connect(hubs[h]!, h, user, [site]);
          live.push([h, user, site]);
        }
      }
      const next = tc + (tick + 1) * 10;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const churnElapsedS = (performance.now() - tc) / 1000;
    const churnEnd = performance.now();
    const churnConvergeMs = await converge(hubs, model.expected(hubCount), churnEnd, 30_000, 'churn');
    const churnWritesPerS = (writes() - wc) / ((performance.now() - tc) / 1000);
    const churnChangesPerS = churned / churnElapsedS;

    // Idle: heartbeats only, once the churn's last writes are out.
    const shardWrites = () => hubs.reduce((n, h) => n + h.tracker.writeStats.writes - h.tracker.writeStats.heartbeats + h.tracker.writeStats.deletes, 0);
    for (let w = -1; w !== shardWrites(); ) {
      w = shardWrites();
      await sleep(500);
    }
    const wi = writes();
    const ti = performance.now();
    await sleep(Math.max(3000, ttlMs));
    const idleWritesPerS = (writes() - wi) / ((performance.now() - ti) / 1000);

    // Reads.
    const statsTimes: number[] = [];
    for (let k = 0; k < 20; k++) {
      const t = performance.now();
      hubs[0]!.tracker.stats();
      statsTimes.push((performance.now() - t) * 1000);
    }
    const readTimes: number[] = [];
    let publisherReplyBytes = 0;
    for (let k = 0; k < 20; k++) {
      const t = performance.now();
      const s = await pub.getOnlineStats();
      readTimes.push(performance.now() - t);
      publisherReplyBytes = JSON.stringify(s).length;
      if (!sameStats(s, model.expected(hubCount))) throw new Error(`HubPublisher read ${s.users} users, want ${model.expected(hubCount).users}`);
    }

    // The format this replaced, from the same users: one entry holding all of a hub's users.
    const baseline = legacyEntry(model, 0);
    const nc = await connect({ servers: url });
    let baselinePutAccepted = true;
    let baselinePutError = '';
    try {
      const kv = await new Kvm(nc).open(presenceBucket(ns));
      await kv.put('legacy-entry', baseline).catch((e: Error) => {
        baselinePutAccepted = false;
        baselinePutError = e.message;
      });
      await kv.delete('legacy-entry').catch(() => {});
    } finally {
      await nc.close();
    }

    const largestValueBytes = Math.max(...hubs.map((h) => h.tracker.writeStats.largestValueBytes));
    const shardsPerHub = Math.max(...hubs.map((h) => h.tracker.shardCount));

    // Crash: the last hub's connection drops; the others must stop counting its users within its TTL.
    const tk = performance.now();
    await hubs.pop()!.crash();
    model.dropHub(hubCount - 1);
    const crashExpiryMs = await converge(hubs, model.expected(hubCount - 1), tk, ttlMs + 10_000, 'crash');

    // What the hubs held: the heap after the bulk, less the heap once they are gone (the model stays).
    await Promise.allSettled(hubs.map((h) => h.stop()));
    hubs.length = 0;
    const hubsHeapMB = (heapAfterBulk - heapAfterGc()) / 1024 / 1024;

    return {
      bulkLoopMs,
      bulkConvergeMs,
      bulkAfterLastMs: bulkConvergeMs - bulkLoopMs,
      bulkLoopCpuMs: cpuMs(cpu0, cpu1),
      bulkAfterLastCpuMs: cpuMs(cpu1, cpu2),
      bulkWrites,
      heapMB,
      hubsHeapMB,
      bulkWriteBytes,
      largestValueBytes,
      shardsPerHub,
      oneChangeP50Ms: median(latencies)!,
      oneChangeMaxMs: Math.max(...latencies),
      churnWritesPerS,
      churnChangesPerS,
      churnConvergeMs,
      idleWritesPerS,
      hubStatsUs: median(statsTimes)!,
      publisherReadMs: median(readTimes)!,
      publisherReplyBytes,
      crashExpiryMs,
      baselineEntryBytes: baseline.length,
      baselinePutAccepted,
      baselinePutError,
    };
  } finally {
    await pub.close().catch(() => {});
    await Promise.allSettled(hubs.map((h) => h.stop()));
    await dropNamespace(url, ns);
  }
}

/** Hub `h`'s users in the one-entry-per-hub JSON the hubs wrote before (protocol/presence.ts HubPresence). */
function legacyEntry(model: PresenceModel, h: number): Uint8Array {
  const users: Record<string, number> = {};
  const sites: Record<string, Record<string, number>> = {};
  for (const [user, mine] of model.perHub[h]!) {
    users[user] = mine.c;
    for (const [s, n] of mine.sites) (sites[s] ??= {})[user] = n;
  }
  return new TextEncoder().encode(JSON.stringify({ hubId: '00000000-0000-0000-0000-000000000000', at: Date.now(), users, sites }));
}

export async function runPresenceBench(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      users: { type: 'string', default: '100000' },
      hubs: { type: 'string', default: '3' },
      sites: { type: 'string', default: '1000' },
      repeat: { type: 'string', default: '3' },
      'ttl-ms': { type: 'string', default: '3000' },
      churn: { type: 'string', default: '2000' },
      out: { type: 'string' },
      'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const users = positiveInt(values.users, '--users');
  const hubs = positiveInt(values.hubs, '--hubs');
  if (hubs < 2) throw new Error('--hubs: at least 2 (one is crashed and the others must notice)');
  const sites = positiveInt(values.sites, '--sites');
  const repeat = positiveInt(values.repeat, '--repeat');
  const ttlMs = positiveInt(values['ttl-ms'], '--ttl-ms');
  const churn = positiveInt(values.churn, '--churn');
  const url = values['nats-url'];
  if (!/^nats:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(url)) throw new Error(`--nats-url ${url}: the presence bench runs against loopback NATS only`);

  const command = `npm run bench -- presence ${argv.join(' ')}`.trim();
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores`);
  console.log(`presence bench: ${users.toLocaleString('en-US')} users over ${hubs} simulated hubs (one in ten on two hubs), ${sites} sites, TTL ${ttlMs} ms, churn ${churn}/s, ${repeat} repetition(s), ${url}\ncommand: ${command}\n`);
  const runs: RunFigures[] = [];
  for (let r = 1; r <= repeat; r++) {
    const f = await runOnce(url, users, hubs, sites, ttlMs, churn);
    runs.push(f);
    console.log(
      `run ${r}/${repeat}: bulk loop ${ms(f.bulkLoopMs)} (CPU ${ms(f.bulkLoopCpuMs)}), converged ${ms(f.bulkAfterLastMs)} after the last connect (CPU ${ms(f.bulkAfterLastCpuMs)}; ${f.bulkWrites} writes, ${kb(f.bulkWriteBytes)}), largest value ${kb(f.largestValueBytes)}, ${f.shardsPerHub} shards/hub; one change ${ms(f.oneChangeP50Ms)} p50 / ${ms(f.oneChangeMaxMs)} max; churn ${Math.round(f.churnChangesPerS)}/s → ${Math.round(f.churnWritesPerS)} writes/s, converged ${ms(f.churnConvergeMs)} after; idle ${f.idleWritesPerS.toFixed(1)} writes/s; stats() ${f.hubStatsUs.toFixed(0)} µs, publisher read ${ms(f.publisherReadMs)} (${kb(f.publisherReplyBytes)}); crash expiry ${ms(f.crashExpiryMs)}; old one-entry-per-hub format ${kb(f.baselineEntryBytes)}: ${f.baselinePutAccepted ? 'accepted' : `refused (${f.baselinePutError})`}`,
    );
  }
  const m = (k: keyof RunFigures) => median(runs.map((f) => f[k] as number))!;
  const largest = m('largestValueBytes');
  const legacy = m('baselineEntryBytes');
  console.log(`\nmedian of ${repeat}:
  ${users.toLocaleString('en-US')} users connecting at once: counts exact on every hub
    after the last connect                                   ${ms(m('bulkAfterLastMs'))} (users, connections, ${sites} sites); CPU of all ${hubs} hubs ${ms(m('bulkAfterLastCpuMs'))}
    after the first (includes the ${ms(m('bulkLoopMs'))} loop feeding them)  ${ms(m('bulkConvergeMs'))}
  one connect or disconnect seen by every hub                ${ms(m('oneChangeP50Ms'))} p50, ${ms(m('oneChangeMaxMs'))} max of 40
  KV writes for the bulk connect                             ${Math.round(m('bulkWrites'))} (${kb(m('bulkWriteBytes'))}) for ${users.toLocaleString('en-US')} users
  KV writes/s under churn of ${Math.round(m('churnChangesPerS'))} changes/s                 ${Math.round(m('churnWritesPerS'))}/s; converged ${ms(m('churnConvergeMs'))} after the last change
  KV writes/s idle (heartbeats)                              ${m('idleWritesPerS').toFixed(1)}/s for ${hubs} hubs
  heap of the ${hubs} hubs after the bulk (each counts all users)    ${m('hubsHeapMB').toFixed(0)} MB, ${((m('hubsHeapMB') * 1024 * 1024) / hubs / users).toFixed(0)} bytes per hub per online user (bulk added ${m('heapMB').toFixed(0)} MB with the bench's model)
  largest stored value                                       ${kb(largest)} (${m('shardsPerHub')} shards/hub)
  old one-entry-per-hub value for one hub's users (baseline) ${kb(legacy)}: ${formatRatio(ratio(legacy, largest))} the largest new value; NATS ${runs.every((f) => f.baselinePutAccepted) ? 'accepted it' : `refused it (${runs.find((f) => !f.baselinePutAccepted)!.baselinePutError})`}
  hub stats() (/api/stats/online)                            ${m('hubStatsUs').toFixed(0)} µs
  HubPublisher.getOnlineStats() (one request)                ${ms(m('publisherReadMs'))}, reply ${kb(m('publisherReplyBytes'))}
  crashed hub's users dropped by the others                  ${ms(m('crashExpiryMs'))} (TTL ${ttlMs} ms)`);
  if (values.out !== undefined) {
    writeFileSync(values.out, JSON.stringify({ tool: 'plant-hub-bench', scenario: 'presence', createdAt: new Date().toISOString(), command, options: { users, hubs, sites, repeat, ttlMs, churn }, runs, medians: Object.fromEntries(Object.keys(runs[0]!).filter((k) => typeof runs[0]![k as keyof RunFigures] === 'number').map((k) => [k, m(k as keyof RunFigures)])) }, null, 2) + '\n');
    console.log(`\nresults: ${values.out}`);
  }
  return 0;
}

function positiveInt(v: string | undefined, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} ${v}: a positive integer`);
  return n;
}

function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
}

function kb(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${Math.round(n)} B`;
}

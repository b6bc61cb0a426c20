/**
 * `npm run bench -- resume-slow [--events 50000] [--runs 20] …`: a HubClient that missed `--events` events
 * of a site resumes them over a slow link (a throttled TCP proxy, 16 Mbit/s by default) to a hub whose
 * sockets have a 64 KB budget. Each run counts, at the application (what HubClient's listeners get):
 * events lost, duplicates, 4509 closes, reconnects and the time to catch up. The goal: every run completes,
 * 0 lost, 0 duplicates, no livelock (issue 11; before, such a resume was closed with 4509 over and over).
 * The hub runs in this process, on loopback NATS, in a namespace of its own dropped afterwards.
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { loadConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { createLogger } from '../hub/logger.ts';
import { CloseCode, HubClient, type EventMeta } from '../protocol/index.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { median } from './ratio.ts';
import { dropNamespace } from './targets/nats-namespace.ts';

const HELP = `npm run bench -- resume-slow [options]
  --events <n>        events missed per run (default 50000)
  --runs <n>          runs, each on a site of its own (default 20)
  --event-bytes <n>   payload filler per event (default 200)
  --mbit <n>          link speed, server to client, Mbit/s (default 16)
  --budget <bytes>    HUB_SOCKET_BUDGET_BYTES (default 65536)
  --hard-limit <bytes> HUB_SOCKET_HARD_LIMIT_BYTES (default 262144)
  --timeout-s <n>     a run that has not caught up by then counts as stuck (default 120)
  --nats-url <url>    loopback NATS with JetStream (default nats://127.0.0.1:4222)`;

/** What one resume got, counted at the application. */
export interface ResumeRun {
  readonly completed: boolean;
  readonly expected: number;
  readonly lost: number;
  readonly duplicates: number;
  /** Closes with 4509 (slow consumer) the client saw. */
  readonly slowConsumerCloses: number;
  /** Every close code the client saw, in order. */
  readonly closeCodes: readonly number[];
  /** Forced closes the hub counted during the run (whatever code reached the client). */
  readonly forcedCloses: number;
  readonly ms: number;
  /** True when the events arrived in offset order. */
  readonly inOrder: boolean;
}

/** A running hub to resume from: the direct URL, the slow one, and what the hub counts. */
export interface ResumeSetup {
  readonly directUrl: string;
  readonly slowUrl: string;
  readonly publisher: HubPublisher;
  token(sub: string, site: string): Promise<string>;
  forcedCloses(): Promise<number>;
}

const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 500, jitter: 0.2 };

/** Appends `events` task updates to `site` while no client follows it, then resumes them over the slow link. */
export async function resumeOnce(setup: ResumeSetup, site: string, events: number, eventBytes: number, timeoutMs: number): Promise<ResumeRun> {
  // Where the site's log is now: the position a client had when it went away.
  const probe = new HubClient({ url: setup.directUrl, token: await setup.token('probe', site), WebSocket, reconnect: false });
  await probe.connect();
  const from = (await probe.subscribeSite(site)) as { offset: number; epoch: string };
  probe.close();

  const blob = 'x'.repeat(eventBytes);
  const expected: number[] = [];
  for (let i = 0; i < events; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(events, i + 500); j++) batch.push(setup.publisher.sendTaskUpdate(site, { id: j, blob }));
    expected.push(...(await Promise.all(batch)));
  }
  expected.sort((a, b) => a - b);
  const last = expected.at(-1)!;

  const counts = new Map<number, number>();
  let inOrder = true;
  let previous = from.offset;
  const closeCodes: number[] = [];
  const client = new HubClient({ url: setup.slowUrl, token: await setup.token('resumer', site), WebSocket, reconnect: FAST_RECONNECT, requestTimeoutMs: timeoutMs });
  const closesBefore = await setup.forcedCloses();
  const started = performance.now();
  let done: () => void = () => {};
  const caughtUp = new Promise<void>((resolve) => (done = resolve));
  client.on('task:update', (_data, meta?: EventMeta) => {
    const offset = meta!.offset;
    counts.set(offset, (counts.get(offset) ?? 0) + 1);
    if (offset <= previous) inOrder = false;
    previous = offset;
    if (offset === last) done();
  });
  client.on('disconnect', (info: { code: number }) => closeCodes.push(info.code));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let completed = false;
  try {
    await client.connect();
    void client.subscribeSite(site, from).catch(() => {});
    completed = await Promise.race([caughtUp.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    client.close();
  }
  const ms = performance.now() - started;
  let lost = 0;
  let duplicates = 0;
  for (const offset of expected) {
    const n = counts.get(offset) ?? 0;
    if (n === 0) lost++;
    else duplicates += n - 1;
  }
  return {
    completed,
    expected: expected.length,
    lost,
    duplicates,
    slowConsumerCloses: closeCodes.filter((c) => c === CloseCode.SlowConsumer).length,
    closeCodes,
    forcedCloses: (await setup.forcedCloses()) - closesBefore,
    ms,
    inOrder,
  };
}

export async function runResumeSlowBench(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      events: { type: 'string', default: '50000' },
      runs: { type: 'string', default: '20' },
      'event-bytes': { type: 'string', default: '200' },
      mbit: { type: 'string', default: '16' },
      budget: { type: 'string', default: '65536' },
      'hard-limit': { type: 'string', default: '262144' },
      'timeout-s': { type: 'string', default: '120' },
      'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const n = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${values[name]}`);
    return v;
  };
  const events = n('events');
  const runs = n('runs');
  const eventBytes = n('event-bytes');
  const bytesPerSecond = (n('mbit') * 1_000_000) / 8;
  const natsUrl = values['nats-url']!;
  const namespace = `benchresume${process.pid}`;
  const secret = 'resume-slow-bench-secret-of-at-least-32-chars';
  const config = loadConfig({
    HUB_JWT_SECRET: secret,
    HUB_NAMESPACE: namespace,
    NATS_URL: natsUrl,
    HUB_PORT: '0',
    HUB_HOST: '127.0.0.1',
    HUB_SOCKET_BUDGET_BYTES: values.budget,
    HUB_SOCKET_HARD_LIMIT_BYTES: values['hard-limit'],
    HUB_MAX_CONNECTIONS_PER_USER: '1000',
  });
  console.log(`resume-slow: ${runs} runs × ${events} missed events of ${eventBytes} B filler, link ${values.mbit} Mbit/s, budget ${config.socketBudgetBytes} B, hard limit ${config.socketHardLimitBytes} B\ncommand: npm run bench -- resume-slow ${argv.join(' ')}`);
  const hub = await Hub.start(config, createLogger('silent'));
  const proxy = await TcpProxy.start({ host: '127.0.0.1', port: hub.port }, { bytesPerSecond });
  const publisher = await HubPublisher.connect({ servers: natsUrl, namespace });
  const key = new TextEncoder().encode(secret);
  const setup: ResumeSetup = {
    directUrl: `ws://127.0.0.1:${hub.port}/ws`,
    slowUrl: `ws://127.0.0.1:${proxy.port}/ws`,
    publisher,
    token: (sub, site) => new SignJWT({ sites: [site], role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(key),
    forcedCloses: async () => (await hub.metrics.forcedCloses.get()).values.reduce((sum, v) => sum + v.value, 0),
  };
  const results: ResumeRun[] = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const r = await resumeOnce(setup, `resume${i}`, events, eventBytes, n('timeout-s') * 1000);
      results.push(r);
      console.log(`run ${i}/${runs}: ${r.completed ? 'completed' : 'STUCK'} in ${(r.ms / 1000).toFixed(2)} s, lost ${r.lost}, duplicates ${r.duplicates}, 4509 closes ${r.slowConsumerCloses}, forced closes ${r.forcedCloses}, close codes [${r.closeCodes.join(' ')}]${r.inOrder ? '' : ', OUT OF ORDER'}`);
    }
  } finally {
    await publisher.close().catch(() => {});
    await proxy.cut();
    await hub.stop();
    await dropNamespace(natsUrl, namespace).catch(() => {});
  }
  const completed = results.filter((r) => r.completed).length;
  const sum = (f: (r: ResumeRun) => number) => results.reduce((s, r) => s + f(r), 0);
  const okRuns = results.filter((r) => r.completed && r.lost === 0 && r.duplicates === 0 && r.inOrder).length;
  console.log(
    `\nruns completed ${completed}/${runs}; lost ${sum((r) => r.lost)}, duplicates ${sum((r) => r.duplicates)}, 4509 closes ${sum((r) => r.slowConsumerCloses)}, forced closes ${sum((r) => r.forcedCloses)}; ` +
      `time per run median ${((median(results.map((r) => r.ms)) ?? 0) / 1000).toFixed(2)} s (link floor ${((events * (eventBytes + 60)) / bytesPerSecond).toFixed(2)} s)\n` +
      `goal (every run completes, 0 lost, 0 duplicates, in order): ${okRuns === runs ? 'met' : `missed (${okRuns}/${runs} runs)`}`,
  );
  return okRuns === runs ? 0 : 1;
}

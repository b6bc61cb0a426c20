/**
 * A load-generator thread: holds its share of the clients, connects them, and
 * answers the main thread's requests (see worker-protocol.ts). All per-message
 * work happens here, never on the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { monotonicUs } from '../clock.ts';
import { createHistogram, encodeHistogram, recordUs } from '../latency-histogram.ts';
import { addTotals, ZERO_TOTALS, type SequenceTotals } from '../sequence-check.ts';
import { type BenchClient, ClientContext } from './bench-client.ts';
import { DeliveryStats } from './delivery-stats.ts';
import { HubProtocolClient } from './hub-protocol-client.ts';
import { LeanSocketIoClient } from './lean-socketio-client.ts';
import { SocketIoClient } from './socketio-client.ts';
import type { ConnectReport, ConnectRequest, FinishReport, GroupTotals, Request, WorkerRequest } from './worker-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('load-worker.ts runs as a worker thread');

const stats = new DeliveryStats();
let ctx: ClientContext | undefined;
let clients: BenchClient[] = [];
let pingTimer: ReturnType<typeof setInterval> | undefined;

/** The hub closes sockets silent for 60 s; a heartbeat every 20 s keeps long runs alive. */
const PING_EVERY_MS = 20_000;
const PING_SLOTS = 20;
const CONNECT_ATTEMPTS = 3;

port.on('message', (req: Request) => {
  handle(req).then(
    (result) => port.postMessage({ id: req.id, ok: true, result }),
    (e: Error) => port.postMessage({ id: req.id, ok: false, error: e.stack ?? e.message }),
  );
});

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.type) {
    case 'connect':
      return connectAll(req);
    case 'received':
      return stats.received;
    case 'phase-stats':
      return stats.report(req.phases);
    case 'drop': {
      const group = clients.filter((c) => c.spec.group === req.group);
      for (const c of group) c.drop(req.jitterMs > 0 ? Math.random() * req.jitterMs : 0);
      return group.length;
    }
    case 'stall': {
      const group = clients.filter((c) => c.spec.group === req.group);
      for (const c of group) c.pause();
      setTimeout(() => {
        for (const c of group) c.resume();
      }, req.ms);
      return group.length;
    }
    case 'finish':
      return finish(req.lastSeqBySite, req.failedBySite, req.alarmEvery);
    case 'close':
      if (ctx !== undefined) ctx.running = false;
      clearInterval(pingTimer);
      for (const c of clients) c.close();
      clients = [];
      return true;
  }
}

async function connectAll(req: ConnectRequest): Promise<ConnectReport> {
  ctx = new ClientContext(stats, req.host, req.port, req.timeoutMs, req.resume, req.ack);
  const c = ctx;
  const batch = req.clients.map((spec): BenchClient => {
    if (req.protocol === 'hub') return new HubProtocolClient(spec, c);
    return req.socketIoClient === 'lean' ? new LeanSocketIoClient(spec, c) : new SocketIoClient(spec, c);
  });
  const failedIds: number[] = [];
  const histogram = createHistogram();
  const errors: string[] = [];
  const interval = req.ratePerS > 0 ? 1_000_000 / req.ratePerS : 0;
  const t0 = monotonicUs();
  let next = 0;
  let connected = 0;
  let failed = 0;
  let lastDone = t0;
  const lane = async () => {
    while (next < batch.length) {
      const i = next++;
      const client = batch[i]!;
      if (interval > 0) {
        const waitMs = (t0 + i * interval - monotonicUs()) / 1000;
        if (waitMs > 1) await sleep(waitMs);
      }
      const start = monotonicUs();
      for (let attempt = 1; attempt <= CONNECT_ATTEMPTS; attempt++) {
        try {
          await client.connect();
          connected++;
          // Only connected clients are checked for loss: one that never subscribed has nothing to lose.
          clients.push(client);
          recordUs(histogram, monotonicUs() - start);
          break;
        } catch (e) {
          if (attempt === CONNECT_ATTEMPTS) {
            failed++;
            failedIds.push(client.spec.id);
            client.close();
            if (errors.length < 10) errors.push(`client ${client.spec.id}: ${(e as Error).message}`);
          } else await sleep(100 * attempt);
        }
      }
      lastDone = monotonicUs();
    }
  };
  await Promise.all(Array.from({ length: Math.min(req.concurrency, batch.length) }, lane));
  if (req.protocol === 'hub' && pingTimer === undefined) {
    // Each second a twentieth of the clients ping, as a real population's heartbeats spread out:
    // all pinging at once would be a burst no real hub sees.
    let slot = 0;
    pingTimer = setInterval(() => {
      slot = (slot + 1) % PING_SLOTS;
      for (let i = slot; i < clients.length; i += PING_SLOTS) clients[i]!.ping();
    }, PING_EVERY_MS / PING_SLOTS);
  }
  return { connected, failed, failedIds, errors, connectHistogram: encodeHistogram(histogram), firstStartUs: t0, lastDoneUs: lastDone };
}

function finish(lastSeqBySite: readonly number[], failedBySite: Readonly<Record<number, readonly number[]>>, alarmEvery: number): FinishReport {
  const c = ctx;
  if (c === undefined) throw new Error('finish before connect');
  c.running = false;
  const groups = new Map<number, { clients: number; totals: SequenceTotals; clientsWithLoss: number }>();
  const worst: { id: number; site: number; totals: SequenceTotals }[] = [];
  for (const client of clients) {
    const totals = client.check.finish(lastSeqBySite[client.spec.site] ?? 0, alarmEvery, failedBySite[client.spec.site] ?? []);
    const g = groups.get(client.spec.group) ?? { clients: 0, totals: ZERO_TOTALS, clientsWithLoss: 0 };
    g.clients++;
    g.totals = addTotals(g.totals, totals);
    if (totals.lost > 0) g.clientsWithLoss++;
    groups.set(client.spec.group, g);
    if (totals.lost + totals.duplicates + totals.orderViolations + totals.offsetViolations > 0) {
      worst.push({ id: client.spec.id, site: client.spec.site, totals });
      worst.sort((a, b) => b.totals.lost - a.totals.lost);
      if (worst.length > 5) worst.pop();
    }
  }
  const groupTotals: GroupTotals[] = [...groups].map(([group, g]) => ({ group, ...g }));
  return {
    groups: groupTotals,
    worst,
    serverCloses: Object.fromEntries(c.serverCloses),
    reconnect: c.outages.report(),
    errors: c.errors,
    otherFrames: c.otherFrames,
    epochs: [...c.epochs],
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

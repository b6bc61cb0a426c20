/**
 * One run of one scenario against one target: start the server, connect the
 * clients, send phases of events while reading CPU before and after, wait for
 * the deliveries to drain, then collect latency and integrity from the workers.
 * Scenarios are written on top of it.
 */
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { monotonicUs } from './clock.ts';
import { mergeEncoded, summarize } from './latency-histogram.ts';
import { LoadGenerator } from './load/load-generator.ts';
import type { ClientSpec } from './load/worker-protocol.ts';
import type { BenchOptions, TargetName } from './options.ts';
import { busyPercent, machineTicks, type MachineTicks, processCpuUs } from './proc-stats.ts';
import type { ConnectResult, CpuResult, GroupPhaseResult, IntegrityResult, MemoryResult, PhaseResult, ReconnectResult, WindowResult } from './run-result.ts';
import { addTotals, ZERO_TOTALS } from './sequence-check.ts';
import { bucketPercentileMs, delta, scrape } from './server-metrics.ts';
import type { PhasePlan, PhaseProduced } from './servers/produce-plan.ts';
import { type RunningTarget, startTarget } from './targets/index.ts';

export interface SessionSetup {
  readonly options: BenchOptions;
  readonly target: TargetName;
  /** Which group client i belongs to (0 unless the scenario singles some out). */
  readonly groupOf?: (index: number) => number;
  /** Names of the groups, for the report. */
  readonly groupLabels?: readonly string[];
  readonly cpuProfDir?: string;
}

interface Sample {
  readonly atUs: number;
  readonly server: number | null;
  readonly producer: number | null;
  readonly nats: number | null;
  readonly generatorUs: number;
  readonly machine: MachineTicks;
  readonly received: number;
}

/** Quiet this long with nothing new arriving ends a drain early (some deliveries will never come). */
const DRAIN_QUIET_MS = 2000;
const CONNECT_TIMEOUT_MS = 15_000;

export class RunSession {
  readonly options: BenchOptions;
  readonly target: RunningTarget;
  readonly generator: LoadGenerator;
  readonly groupLabels: readonly string[];
  readonly connect: ConnectResult;
  readonly memory: MemoryResult;
  readonly windows: WindowResult[] = [];
  readonly notes: string[] = [];
  /** Connected subscribers per site, per group. */
  readonly #subscribers: number[][];
  readonly #phaseLabels = new Map<number, string>();
  readonly #produced = new Map<number, { readonly p: PhaseProduced; readonly before: readonly number[] }>();
  #lastSeqBySite: number[];
  readonly #failedBySite: Record<number, number[]> = {};
  #produceFailures = 0;
  #expectedTotal = 0;
  #nextPhase = 0;
  readonly #cpuProfDir: string | undefined;

  private constructor(options: BenchOptions, target: RunningTarget, generator: LoadGenerator, groupLabels: readonly string[], connect: ConnectResult, memory: MemoryResult, subscribers: number[][], cpuProfDir: string | undefined) {
    this.options = options;
    this.#cpuProfDir = cpuProfDir;
    this.target = target;
    this.generator = generator;
    this.groupLabels = groupLabels;
    this.connect = connect;
    this.memory = memory;
    this.#subscribers = subscribers;
    this.#lastSeqBySite = new Array<number>(options.sites).fill(0);
    this.notes.push(...target.notes);
    if (target.protocol === 'socketio') this.notes.push(options.socketIoClient === 'lean' ? 'Socket.IO clients: the bench\'s lean client (--socketio-client lean)' : 'Socket.IO clients: socket.io-client');
  }

  static async open(setup: SessionSetup): Promise<RunSession> {
    const o = setup.options;
    const target = await startTarget(setup.target, { natsUrl: o.natsUrl, resume: o.resume, writeDelayMs: o.writeDelayMs });
    let generator: LoadGenerator | undefined;
    try {
      // Read first without a GC, then after one: the same method for every target (each child runs with --expose-gc).
      const rssIdleNoGc = target.server.rssBytes();
      const heapIdle = await target.server.gc();
      const rssIdle = target.server.rssBytes();
      generator = LoadGenerator.start(o.workers);
      const groupOf = setup.groupOf ?? (() => 0);
      const secret = new TextEncoder().encode(target.jwtSecret);
      const specs: ClientSpec[] = [];
      for (let i = 0; i < o.clients; i++) {
        const site = i % o.sites;
        const token = await new SignJWT({ sites: [site], role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject(`b${i}`).setIssuedAt().setExpirationTime('6h').sign(secret);
        specs.push({ id: i, site, token, group: groupOf(i) });
      }
      const before = sample(target, 0);
      const reports = await generator.connect(
        { protocol: target.protocol, socketIoClient: o.socketIoClient, host: target.host, port: target.port, concurrency: Math.max(1, Math.floor(o.connectConcurrency / o.workers)), ratePerS: o.connectRate, timeoutMs: CONNECT_TIMEOUT_MS, resume: target.resumes, ack: o.ack },
        specs,
      );
      const after = sample(target, 0);
      const connected = reports.reduce((a, r) => a + r.connected, 0);
      const failed = new Set(reports.flatMap((r) => r.failedIds));
      const first = Math.min(...reports.map((r) => r.firstStartUs));
      const last = Math.max(...reports.map((r) => r.lastDoneUs));
      const durationS = Math.max(0, last - first) / 1e6;
      const serverCpu = after.server !== null && before.server !== null ? after.server - before.server : null;
      const connect: ConnectResult = {
        attempted: specs.length,
        connected,
        failed: failed.size,
        errors: reports.flatMap((r) => r.errors).slice(0, 10),
        durationS,
        perSec: durationS > 0 ? connected / durationS : null,
        latency: summarize(mergeEncoded(reports.map((r) => r.connectHistogram))),
        serverCpuUsPerConnection: serverCpu !== null && connected > 0 ? serverCpu / connected : null,
      };
      const rssConnectedNoGc = target.server.rssBytes();
      const heapConnected = await target.server.gc();
      const rssConnected = target.server.rssBytes();
      const perConnection = (a: number | null, b: number | null) => (a !== null && b !== null && connected > 0 ? (b - a) / connected : null);
      const memory: MemoryResult = {
        serverRssIdleBytes: rssIdle,
        serverRssConnectedBytes: rssConnected,
        rssPerConnectionBytes: perConnection(rssIdle, rssConnected),
        serverRssIdleNoGcBytes: rssIdleNoGc,
        serverRssConnectedNoGcBytes: rssConnectedNoGc,
        rssNoGcPerConnectionBytes: perConnection(rssIdleNoGc, rssConnectedNoGc),
        heapPerConnectionBytes: perConnection(heapIdle.heapUsed, heapConnected.heapUsed),
        externalPerConnectionBytes: perConnection(heapIdle.external, heapConnected.external),
      };
      const groups = Math.max(1, ...specs.map((s) => s.group + 1));
      const subscribers = Array.from({ length: groups }, () => new Array<number>(o.sites).fill(0));
      for (const s of specs) if (!failed.has(s.id)) subscribers[s.group]![s.site]!++;
      return new RunSession(o, target, generator, setup.groupLabels ?? ['all'], connect, memory, subscribers, setup.cpuProfDir);
    } catch (e) {
      await generator?.close();
      await target.stop();
      throw e;
    }
  }

  /** A phase number for the next phase, remembered with its label. */
  phase(label: string): number {
    const n = this.#nextPhase++;
    this.#phaseLabels.set(n, label);
    return n;
  }

  /**
   * Sends the phases (one producer request), running `during` alongside (a drop, a
   * stall), then waits for deliveries to drain; CPU is read around all of it.
   */
  async window(label: string, phases: readonly PhasePlan[], during?: () => Promise<void>): Promise<WindowResult> {
    const profiling = this.#cpuProfDir !== undefined && label !== 'warmup' && (await this.target.server.profileStart()) === true;
    const metricsBefore = this.target.metricsUrl === undefined ? undefined : await scrape(this.target.metricsUrl);
    await this.target.server.loopStart();
    const before = sample(this.target, await this.generator.received());
    const producing = this.target.produce({ phases, sites: this.options.sites, alarmEvery: this.options.alarmEvery, payloadBytes: this.options.payloadBytes, tickMs: this.options.tickMs });
    const side = during?.();
    const report = await producing;
    await side;
    for (const p of report.phases) {
      const prior = this.#lastSeqBySite;
      this.#produced.set(p.phase, { p, before: prior });
      for (let site = 0; site < this.options.sites; site++) {
        const n = (p.lastSeqBySite[site] ?? 0) - (prior[site] ?? 0);
        for (const g of this.#subscribers) this.#expectedTotal += n * g[site]!;
      }
      this.#lastSeqBySite = [...p.lastSeqBySite];
    }
    for (const [site, seqs] of Object.entries(report.failedBySite)) {
      (this.#failedBySite[Number(site)] ??= []).push(...seqs);
      for (const g of this.#subscribers) this.#expectedTotal -= seqs.length * g[Number(site)]!;
    }
    this.#produceFailures += report.failures;
    if (report.errors.length > 0) this.notes.push(`append failures (${report.failures}): ${report.errors.join('; ')}`);
    const drained = await this.#drain();
    const after = sample(this.target, await this.generator.received());
    const loopDelay = await this.target.server.loopStop();
    if (profiling) await this.target.server.profileStop(join(this.#cpuProfDir!, `${this.target.name}-${label.replace(/[^A-Za-z0-9_-]+/g, '_')}.cpuprofile`));
    const metricsAfter = this.target.metricsUrl === undefined ? undefined : await scrape(this.target.metricsUrl);
    const metrics = metricsBefore !== undefined && metricsAfter !== undefined ? delta(metricsBefore, metricsAfter) : undefined;
    const w: WindowResult = {
      label,
      phases: phases.map((p) => p.phase),
      wallS: (after.atUs - before.atUs) / 1e6,
      deliveries: after.received - before.received,
      cpu: cpuBetween(before, after, after.received - before.received),
      drained,
      produceFailures: report.failures,
      serverLoopDelay: loopDelay ?? null,
      ...(metrics === undefined ? {} : { serverMetrics: metrics, serverLatencyP50Ms: bucketPercentileMs(metrics, 50), serverLatencyP99Ms: bucketPercentileMs(metrics, 99) }),
    };
    this.windows.push(w);
    return w;
  }

  /** Per-phase deliveries and latency, merged over the workers. */
  async phaseResults(phases: readonly number[]): Promise<PhaseResult[]> {
    const reports = await this.generator.phaseStats(phases);
    const out: PhaseResult[] = [];
    for (const phase of phases) {
      const produced = this.#produced.get(phase);
      if (produced === undefined) continue;
      const { p, before } = produced;
      const mine = reports.filter((r) => r.phase === phase);
      const groups: GroupPhaseResult[] = this.#subscribers.map((subs, group) => {
        const cells = mine.filter((r) => r.group === group);
        const delivered = cells.reduce((a, c) => a + c.count, 0);
        return {
          group,
          label: this.groupLabels[group] ?? `group ${group}`,
          expected: this.#expectedFor(p, before, subs),
          delivered,
          deliveredPerSec: rate(delivered, p.startUs, p.endUs, Math.max(0, ...cells.map((c) => c.lastUs))),
          latency: summarize(mergeEncoded(cells.map((c) => c.histogram))),
        };
      });
      const delivered = groups.reduce((a, g) => a + g.delivered, 0);
      const durationS = (p.endUs - p.startUs) / 1e6;
      out.push({
        phase,
        label: this.#phaseLabels.get(phase) ?? String(phase),
        targetRate: p.targetRate,
        produced: p.produced,
        producedPerSec: durationS > 0 ? p.produced / durationS : 0,
        durationS,
        expected: groups.reduce((a, g) => a + g.expected, 0),
        delivered,
        deliveredPerSec: rate(delivered, p.startUs, p.endUs, Math.max(0, ...mine.map((c) => c.lastUs))),
        latency: summarize(mergeEncoded(mine.map((c) => c.histogram))),
        tailAfterEndMs: mine.length === 0 ? null : Math.max(0, Math.max(...mine.map((c) => c.lastUs)) - p.endUs) / 1000,
        groups: groups.length > 1 ? groups : [],
      });
    }
    return out;
  }

  /** Ends the run's checks: every client's loss, duplicates and order against what was produced. */
  async finish(): Promise<{ integrity: IntegrityResult; reconnect: ReconnectResult | undefined }> {
    const reports = await this.generator.finish(this.#lastSeqBySite, this.#failedBySite, this.options.alarmEvery);
    const groups = new Map<number, { clients: number; clientsWithLoss: number; totals: typeof ZERO_TOTALS }>();
    for (const r of reports) {
      for (const g of r.groups) {
        const acc = groups.get(g.group) ?? { clients: 0, clientsWithLoss: 0, totals: ZERO_TOTALS };
        groups.set(g.group, { clients: acc.clients + g.clients, clientsWithLoss: acc.clientsWithLoss + g.clientsWithLoss, totals: addTotals(acc.totals, g.totals) });
      }
    }
    const closes: Record<string, number> = {};
    for (const r of reports) for (const [k, n] of Object.entries(r.serverCloses)) closes[k] = (closes[k] ?? 0) + n;
    const groupList = [...groups].sort(([a], [b]) => a - b).map(([group, g]) => ({ group, label: this.groupLabels[group] ?? `group ${group}`, ...g }));
    const integrity: IntegrityResult = {
      total: groupList.reduce((a, g) => addTotals(a, g.totals), ZERO_TOTALS),
      groups: groupList,
      worst: reports.flatMap((r) => r.worst).sort((a, b) => b.totals.lost - a.totals.lost).slice(0, 5),
      serverCloses: closes,
      errors: reports.flatMap((r) => r.errors).slice(0, 10),
      otherFrames: reports.reduce((a, r) => a + r.otherFrames, 0),
      produceFailures: this.#produceFailures,
    };
    const drops = reports.reduce((a, r) => a + r.reconnect.drops, 0);
    const sum = (k: 'reconnected' | 'failed' | 'notCaughtUp' | 'recoveredTrue' | 'recoveredFalse' | 'recoveredUnknown') => reports.reduce((a, r) => a + r.reconnect[k], 0);
    const reconnect: ReconnectResult | undefined =
      drops === 0
        ? undefined
        : {
            drops,
            reconnected: sum('reconnected'),
            failed: sum('failed'),
            reconnect: summarize(mergeEncoded(reports.map((r) => r.reconnect.reconnectHistogram))),
            caughtUp: summarize(mergeEncoded(reports.map((r) => r.reconnect.caughtUpHistogram))),
            notCaughtUp: sum('notCaughtUp'),
            recoveredTrue: sum('recoveredTrue'),
            recoveredFalse: sum('recoveredFalse'),
            recoveredUnknown: sum('recoveredUnknown'),
          };
    return { integrity, reconnect };
  }

  async close(): Promise<void> {
    await this.generator.close();
    await this.target.stop();
  }

  #expectedFor(p: PhaseProduced, before: readonly number[], subs: readonly number[]): number {
    let n = 0;
    for (let site = 0; site < subs.length; site++) {
      const from = before[site] ?? 0;
      const to = p.lastSeqBySite[site] ?? 0;
      const failed = (this.#failedBySite[site] ?? []).filter((s) => s > from && s <= to).length;
      n += (to - from - failed) * subs[site]!;
    }
    return n;
  }

  /** Waits until every expected delivery arrived, nothing new came for a while, or the drain limit. */
  async #drain(): Promise<boolean> {
    const deadline = Date.now() + this.options.drainMaxS * 1000;
    let last = -1;
    let lastChange = Date.now();
    while (Date.now() < deadline) {
      const received = await this.generator.received();
      if (received >= this.#expectedTotal) return true;
      if (received !== last) {
        last = received;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > DRAIN_QUIET_MS) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }
}

function sample(t: RunningTarget, received: number): Sample {
  const u = process.cpuUsage();
  return {
    atUs: monotonicUs(),
    server: t.server.cpuUs(),
    producer: t.producer?.cpuUs() ?? null,
    nats: t.natsPid === undefined ? null : processCpuUs(t.natsPid),
    generatorUs: u.user + u.system,
    machine: machineTicks(),
    received,
  };
}

function cpuBetween(a: Sample, b: Sample, deliveries: number): CpuResult {
  const wallUs = b.atUs - a.atUs;
  const d = (x: number | null, y: number | null) => (x === null || y === null ? null : y - x);
  const per = (us: number | null) => (us === null || deliveries <= 0 ? null : us / deliveries);
  const pct = (us: number | null) => (us === null || wallUs <= 0 ? null : (100 * us) / wallUs);
  const server = d(a.server, b.server);
  const producer = d(a.producer, b.producer);
  const nats = d(a.nats, b.nats);
  const generator = b.generatorUs - a.generatorUs;
  return {
    serverUs: server,
    serverPercent: pct(server),
    serverUsPerDelivery: per(server),
    producerUs: producer,
    natsUs: nats,
    systemUsPerDelivery: per(server === null ? null : server + (producer ?? 0) + (nats ?? 0)),
    generatorUs: generator,
    generatorPercent: pct(generator) ?? 0,
    generatorUsPerDelivery: per(generator),
    machineBusyPercent: busyPercent(a.machine, b.machine),
  };
}

function rate(count: number, startUs: number, endUs: number, lastUs: number): number | null {
  const span = Math.max(endUs, lastUs) - startUs;
  return span > 0 && count > 0 ? count / (span / 1e6) : null;
}


/** The headline figures: how each is named, its unit, which way is better, and which a scenario shows. */
import type { ScenarioName } from '../options.ts';

export interface MetricSpec {
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower' | 'none';
}

export const METRICS: Readonly<Record<string, MetricSpec>> = {
  deliveredPerSec: { label: 'delivered events/s', unit: '/s', better: 'higher' },
  saturationPerSec: { label: 'saturation delivered/s', unit: '/s', better: 'higher' },
  perCorePerSec: { label: 'projected deliveries/s per server core', unit: '/s', better: 'higher' },
  ceilingPerSec: { label: `delivered/s within bounds`, unit: '/s', better: 'higher' },
  ceilingP99Ms: { label: 'p99 at that rate', unit: 'ms', better: 'lower' },
  ceilingServerCpuUsPerDelivery: { label: 'server CPU/delivery there', unit: 'µs', better: 'lower' },
  startCpuUsPerDelivery: { label: 'server CPU/delivery at start rate', unit: 'µs', better: 'lower' },
  targetRate: { label: 'target events/s', unit: '/s', better: 'none' },
  producedPerSec: { label: 'produced events/s', unit: '/s', better: 'higher' },
  p50Ms: { label: 'latency p50', unit: 'ms', better: 'lower' },
  p99Ms: { label: 'latency p99', unit: 'ms', better: 'lower' },
  p999Ms: { label: 'latency p99.9', unit: 'ms', better: 'lower' },
  maxMs: { label: 'latency max', unit: 'ms', better: 'lower' },
  steadyP99Ms: { label: 'p99 before burst', unit: 'ms', better: 'lower' },
  afterP99Ms: { label: 'p99 after burst', unit: 'ms', better: 'lower' },
  burstDrainMs: { label: 'burst backlog drained in', unit: 'ms', better: 'lower' },
  serverCpuPercent: { label: 'server CPU', unit: '%', better: 'none' },
  serverCpuUsPerDelivery: { label: 'server CPU/delivery', unit: 'µs', better: 'lower' },
  systemCpuUsPerDelivery: { label: 'server+producer+NATS CPU/delivery', unit: 'µs', better: 'lower' },
  generatorCpuUsPerDelivery: { label: 'generator CPU/delivery', unit: 'µs', better: 'none' },
  rssPerConnectionKB: { label: 'server RSS/connection (after GC)', unit: 'KB', better: 'lower' },
  rssNoGcPerConnectionKB: { label: 'server RSS/connection (no GC)', unit: 'KB', better: 'lower' },
  heapPerConnectionKB: { label: '  of which JS heap', unit: 'KB', better: 'lower' },
  serverRssMB: { label: 'server RSS', unit: 'MB', better: 'lower' },
  connectPerSec: { label: 'connections/s', unit: '/s', better: 'higher' },
  connectP50Ms: { label: 'connect p50', unit: 'ms', better: 'lower' },
  connectP99Ms: { label: 'connect p99', unit: 'ms', better: 'lower' },
  connectMaxMs: { label: 'connect max', unit: 'ms', better: 'lower' },
  serverCpuUsPerConnection: { label: 'server CPU/connection', unit: 'µs', better: 'lower' },
  connected: { label: 'connected', unit: '', better: 'higher' },
  connectFailed: { label: 'connect failures', unit: '', better: 'lower' },
  dropped: { label: 'clients dropped', unit: '', better: 'none' },
  reconnected: { label: 'reconnected', unit: '', better: 'higher' },
  reconnectFailed: { label: 'reconnects given up', unit: '', better: 'lower' },
  reconnectP50Ms: { label: 'reconnect p50', unit: 'ms', better: 'lower' },
  reconnectP99Ms: { label: 'reconnect p99', unit: 'ms', better: 'lower' },
  reconnectMaxMs: { label: 'reconnect max', unit: 'ms', better: 'lower' },
  caughtUpP99Ms: { label: 'caught up p99', unit: 'ms', better: 'lower' },
  caughtUpMaxMs: { label: 'caught up max', unit: 'ms', better: 'lower' },
  notCaughtUp: { label: 'never caught up', unit: '', better: 'lower' },
  recovered: { label: 'resumes recovered', unit: '', better: 'higher' },
  stayedP99Ms: { label: 'p99 of clients that stayed', unit: 'ms', better: 'lower' },
  fastP50Ms: { label: 'fast clients p50', unit: 'ms', better: 'lower' },
  fastP99Ms: { label: 'fast clients p99', unit: 'ms', better: 'lower' },
  fastMaxMs: { label: 'fast clients max', unit: 'ms', better: 'lower' },
  fastLost: { label: 'fast clients lost', unit: '', better: 'lower' },
  slowClients: { label: 'slow clients', unit: '', better: 'none' },
  slowLost: { label: 'slow clients lost (shed)', unit: '', better: 'lower' },
  slowLostCritical: { label: 'slow clients lost critical', unit: '', better: 'lower' },
  slowMaxMs: { label: 'slow clients max latency', unit: 'ms', better: 'lower' },
  lost: { label: 'lost (total)', unit: '', better: 'lower' },
  lostWhileConnected: { label: 'lost while connected', unit: '', better: 'lower' },
  lostAcrossReconnect: { label: 'lost across reconnects', unit: '', better: 'lower' },
  duplicates: { label: 'duplicates', unit: '', better: 'lower' },
  orderViolations: { label: 'order violations', unit: '', better: 'lower' },
  offsetViolations: { label: 'offset violations', unit: '', better: 'lower' },
  serverCloses: { label: 'closed by server', unit: '', better: 'lower' },
  generatorCpuPercent: { label: 'load generator CPU (peak)', unit: '%', better: 'none' },
  machineBusyPercent: { label: 'machine busy (peak)', unit: '%', better: 'none' },
};

const INTEGRITY = ['lost', 'duplicates', 'orderViolations', 'offsetViolations', 'serverCloses'];
const LOAD = ['generatorCpuPercent', 'machineBusyPercent'];

/** The figures a scenario's table shows, in order. */
export const SHOWN: Readonly<Record<ScenarioName, readonly string[]>> = {
  fanout: [
    'deliveredPerSec', 'saturationPerSec', 'perCorePerSec', 'ceilingPerSec', 'ceilingP99Ms', 'targetRate', 'producedPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'maxMs',
    'serverCpuPercent', 'serverCpuUsPerDelivery', 'startCpuUsPerDelivery', 'systemCpuUsPerDelivery', 'generatorCpuUsPerDelivery', 'rssPerConnectionKB', 'rssNoGcPerConnectionKB', 'heapPerConnectionKB', ...INTEGRITY, ...LOAD,
  ],
  burst: ['deliveredPerSec', 'targetRate', 'producedPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'maxMs', 'steadyP99Ms', 'afterP99Ms', 'burstDrainMs', 'serverCpuUsPerDelivery', 'systemCpuUsPerDelivery', ...INTEGRITY, ...LOAD],
  'reconnect-storm': [
    'dropped', 'reconnected', 'reconnectFailed', 'reconnectP50Ms', 'reconnectP99Ms', 'reconnectMaxMs', 'caughtUpP99Ms', 'caughtUpMaxMs', 'notCaughtUp', 'recovered',
    'lostAcrossReconnect', 'lostWhileConnected', 'stayedP99Ms', 'p99Ms', 'deliveredPerSec', ...INTEGRITY, ...LOAD,
  ],
  'slow-consumers': ['slowClients', 'fastP50Ms', 'fastP99Ms', 'fastMaxMs', 'fastLost', 'slowLost', 'slowLostCritical', 'slowMaxMs', 'deliveredPerSec', 'serverCpuUsPerDelivery', ...INTEGRITY, ...LOAD],
  connections: ['connected', 'connectFailed', 'connectPerSec', 'connectP50Ms', 'connectP99Ms', 'connectMaxMs', 'rssPerConnectionKB', 'rssNoGcPerConnectionKB', 'heapPerConnectionKB', 'serverRssMB', 'serverCpuUsPerConnection', 'p99Ms', ...INTEGRITY, ...LOAD],
};

/** Figures compared as ratios in `--compare` (the rest are shown, not divided). */
export const RATIOED = new Set([
  'deliveredPerSec', 'saturationPerSec', 'perCorePerSec', 'ceilingPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'serverCpuUsPerDelivery', 'startCpuUsPerDelivery', 'systemCpuUsPerDelivery', 'rssPerConnectionKB', 'rssNoGcPerConnectionKB', 'heapPerConnectionKB',
  'connectPerSec', 'connectP99Ms', 'serverCpuUsPerConnection', 'reconnectP99Ms', 'fastP99Ms', 'stayedP99Ms', 'burstDrainMs',
]);

export function formatValue(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'ms') return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  if (unit === 'µs' || unit === 'KB' || unit === 'MB') return v >= 100 ? v.toFixed(0) : v.toFixed(2);
  if (unit === '%') return v.toFixed(0);
  if (Math.abs(v) >= 10_000) return Math.round(v).toLocaleString('en-US');
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

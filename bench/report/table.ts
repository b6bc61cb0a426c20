/** The human report on stdout: each run's details, then the medians (and ratios) table. */
import type { BenchOptions } from '../options.ts';
import { formatRatio } from '../ratio.ts';
import type { PhaseResult, RunResult } from '../run-result.ts';
import { formatValue, METRICS, SHOWN } from './metrics.ts';
import type { Comparison } from './summary.ts';

export function describeRun(o: BenchOptions): string {
  const load = o.scenario === 'connections' ? `${o.clients} connections over ${o.sites} sites` : `${o.clients} clients over ${o.sites} sites`;
  const rate = o.scenario === 'connections' ? '' : o.ceiling ? `, rate from ${o.ceilingStartRate}/s ×${o.ceilingFactor} per step` : `, ${o.rate} events/s`;
  const extra =
    o.scenario === 'burst' ? `, burst ×${o.burstFactor} for ${o.burstS} s` : o.scenario === 'reconnect-storm' ? `, ${Math.round(o.dropFraction * 100)}% drop` : o.scenario === 'slow-consumers' ? `, ${Math.round(o.slowFraction * 100)}% stall ${+o.stallS.toFixed(2)} s` : '';
  return `${o.scenario}: ${load}${rate}${extra}, ${o.durationS} s, payload +${o.payloadBytes} B, ${o.workers} load workers`;
}

export function formatRun(r: RunResult): string {
  const lines: string[] = [];
  const c = r.connect;
  lines.push(`[${r.target} #${r.repeat}] connected ${c.connected}/${c.attempted} in ${c.durationS.toFixed(2)} s (${formatValue(c.perSec, '/s')}/s, p99 ${formatValue(c.latency.p99Ms, 'ms')} ms); server RSS after GC ${mb(r.memory.serverRssIdleBytes)} → ${mb(r.memory.serverRssConnectedBytes)} MB = ${kb(r.memory.rssPerConnectionBytes)} KB/connection (JS heap ${kb(r.memory.heapPerConnectionBytes)} KB); no GC ${mb(r.memory.serverRssIdleNoGcBytes ?? null)} → ${mb(r.memory.serverRssConnectedNoGcBytes ?? null)} MB = ${kb(r.memory.rssNoGcPerConnectionBytes ?? null)} KB/connection`);
  if (c.errors.length > 0) lines.push(`  connect errors: ${c.errors.slice(0, 3).join(' | ')}`);
  if (r.phases.length > 0) {
    lines.push(`  ${pad('phase', 18)}${rpad('target/s', 10)}${rpad('sent/s', 10)}${rpad('expected', 11)}${rpad('delivered', 11)}${rpad('deliv/s', 11)}${rpad('p50', 8)}${rpad('p99', 8)}${rpad('p99.9', 8)}${rpad('max', 8)} ms`);
    for (const p of r.phases) {
      lines.push(phaseLine(p.label, p));
      for (const g of p.groups) lines.push(`  ${pad(`  └ ${g.label}`, 18)}${rpad('', 20)}${rpad(formatValue(g.expected, ''), 11)}${rpad(formatValue(g.delivered, ''), 11)}${rpad(formatValue(g.deliveredPerSec, '/s'), 11)}${lat(g.latency)}`);
    }
  }
  for (const w of r.windows) {
    const u = w.cpu;
    lines.push(
      `  window ${w.label}: ${formatValue(w.deliveries, '')} deliveries in ${w.wallS.toFixed(1)} s${w.drained ? '' : ' (NOT drained)'}; server ${formatValue(u.serverPercent, '%')}% CPU, ${formatValue(u.serverUsPerDelivery, 'µs')} µs/delivery` +
        (u.producerUs !== null ? `; producer ${formatValue(u.producerUs / (w.wallS * 1e4), '%')}%` : '') +
        (u.natsUs !== null ? `; nats-server ${formatValue(u.natsUs / (w.wallS * 1e4), '%')}%` : '') +
        (u.systemUsPerDelivery !== null && (u.producerUs !== null || u.natsUs !== null) ? ` (path ${formatValue(u.systemUsPerDelivery, 'µs')} µs/delivery)` : '') +
        `; generator ${formatValue(u.generatorPercent, '%')}%; machine ${formatValue(u.machineBusyPercent, '%')}% busy` +
        (w.serverLoopDelay === null ? '' : `; server 5 ms loop timer fired after p99 ${formatValue(w.serverLoopDelay.p99Ms, 'ms')} ms, max ${formatValue(w.serverLoopDelay.maxMs, 'ms')} ms`),
    );
    if (w.serverMetrics !== undefined) {
      const counters = Object.entries(w.serverMetrics).filter(([k]) => !k.startsWith('hub_event_latency_seconds'));
      lines.push(`    hub's own view: append → handed to sockets p50 ≤ ${formatValue(w.serverLatencyP50Ms, 'ms')} ms, p99 ≤ ${formatValue(w.serverLatencyP99Ms, 'ms')} ms${counters.length > 0 ? `; ${counters.map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}`);
    }
  }
  const t = r.integrity.total;
  lines.push(`  integrity: lost ${t.lost} (across reconnects ${t.lostAcrossReconnect}, critical ${t.lostCritical}), duplicates ${t.duplicates}, order ${t.orderViolations}, offsets ${t.offsetViolations}; clients with loss ${r.integrity.groups.map((g) => `${g.label} ${g.clientsWithLoss}/${g.clients}`).join(', ')}`);
  if (Object.keys(r.integrity.serverCloses).length > 0) lines.push(`  closed by server: ${JSON.stringify(r.integrity.serverCloses)}`);
  if (r.reconnect !== undefined) {
    const x = r.reconnect;
    lines.push(`  outages ${x.drops}: reconnected ${x.reconnected} (p50 ${formatValue(x.reconnect.p50Ms, 'ms')}, p99 ${formatValue(x.reconnect.p99Ms, 'ms')}, max ${formatValue(x.reconnect.maxMs, 'ms')} ms), caught up p99 ${formatValue(x.caughtUp.p99Ms, 'ms')} ms, never caught up ${x.notCaughtUp}, given up ${x.failed}; resume answered recovered:true ${x.recoveredTrue}, false ${x.recoveredFalse}, no answer ${x.recoveredUnknown}`);
  }
  if (r.integrity.otherFrames > 0) lines.push(`  ${r.integrity.otherFrames} frames were neither events nor replies`);
  for (const e of r.integrity.errors.slice(0, 3)) lines.push(`  error: ${e}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

export function formatComparison(cmp: Comparison, o: BenchOptions): string {
  const keys = SHOWN[cmp.scenario].filter((k) => cmp.targets.some((t) => t.figures[k] !== undefined && t.figures[k] !== null));
  const ratioCols = Object.keys(cmp.ratios);
  const runs = cmp.targets.map((t) => t.runs);
  const header = `${describeRun(o)}${Math.max(...runs) > 1 ? ` — median of ${Math.max(...runs)} runs (loss: worst run)` : ''}`;
  const lines = [header, `${pad('', 36)}${cmp.targets.map((t) => rpad(t.target, 13)).join('')}${ratioCols.map((c) => rpad(c, 15)).join('')}`];
  for (const k of keys) {
    const m = METRICS[k] ?? { label: k, unit: '', better: 'none' };
    const label = `${m.label}${m.unit !== '' && m.unit !== '/s' ? ` (${m.unit})` : ''}`;
    const cells = cmp.targets.map((t) => rpad(formatValue(t.figures[k], m.unit), 13)).join('');
    const ratios = ratioCols.map((c) => rpad(k in cmp.ratios[c]! ? formatRatio(cmp.ratios[c]![k] ?? null) : '', 15)).join('');
    lines.push(`${pad(label, 36)}${cells}${ratios}`);
  }
  return lines.join('\n');
}

function phaseLine(label: string, p: PhaseResult): string {
  return `  ${pad(label, 18)}${rpad(formatValue(p.targetRate, ''), 10)}${rpad(formatValue(p.producedPerSec, '/s'), 10)}${rpad(formatValue(p.expected, ''), 11)}${rpad(formatValue(p.delivered, ''), 11)}${rpad(formatValue(p.deliveredPerSec, '/s'), 11)}${lat(p.latency)}`;
}

function lat(l: PhaseResult['latency']): string {
  return `${rpad(formatValue(l.p50Ms, 'ms'), 8)}${rpad(formatValue(l.p99Ms, 'ms'), 8)}${rpad(formatValue(l.p999Ms, 'ms'), 8)}${rpad(formatValue(l.maxMs, 'ms'), 8)}`;
}

function mb(bytes: number | null): string {
  return bytes === null ? '–' : (bytes / 1048576).toFixed(1);
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length);
}

function rpad(s: string, n: number): string {
  return s.length >= n ? ` ${s}` : ' '.repeat(n - s.length) + s;
}

function kb(bytes: number | null): string {
  return formatValue(bytes === null ? null : bytes / 1024, 'KB');
}

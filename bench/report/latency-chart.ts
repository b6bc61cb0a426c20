/**
 * The chart: latency percentiles (p50, p99, p99.9) against delivered events/s,
 * one colour per target, log-log, with the p99 goal drawn in. Hand-written SVG
 * (no chart library), from one or more results files.
 */
import { median } from '../ratio.ts';
import type { ResultsFile } from './results-file.ts';

export interface ChartPoint {
  readonly target: string;
  readonly deliveredPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

/** Phases that are not measurements of a rate: warm-up, and the one-event liveness check. */
const SKIPPED = /^(warmup|liveness)$/;

/**
 * One point per target and phase: repeated runs of the same phase (same label, same
 * file) are reduced to their medians, so the lines follow rate steps, not run noise.
 */
export function chartPoints(files: readonly ResultsFile[]): ChartPoint[] {
  const groups = new Map<string, { target: string; rows: { x: number; p50: number; p99: number; p999: number }[] }>();
  files.forEach((f, fileIndex) => {
    for (const r of f.runs) {
      for (const p of r.phases) {
        const l = p.latency;
        if (SKIPPED.test(p.label) || p.deliveredPerSec === null || l.p50Ms === null || l.p99Ms === null || l.p999Ms === null) continue;
        const key = `${fileIndex}|${r.target}|${p.label}`;
        const g = groups.get(key) ?? { target: r.target, rows: [] };
        g.rows.push({ x: p.deliveredPerSec, p50: l.p50Ms, p99: l.p99Ms, p999: l.p999Ms });
        groups.set(key, g);
      }
    }
  });
  return [...groups.values()].map((g) => ({
    target: g.target,
    deliveredPerSec: median(g.rows.map((r) => r.x))!,
    p50Ms: median(g.rows.map((r) => r.p50))!,
    p99Ms: median(g.rows.map((r) => r.p99))!,
    p999Ms: median(g.rows.map((r) => r.p999))!,
  }));
}

const COLORS: Record<string, string> = { hub: '#1f63b4', 'hub-socketio': '#8e3bb5', socketio: '#e8710a', 'uws-bare': '#2b9b3a' };
const PERCENTILES = [
  { key: 'p50Ms', label: 'p50', dash: '' },
  { key: 'p99Ms', label: 'p99', dash: '7 4' },
  { key: 'p999Ms', label: 'p99.9', dash: '2 3' },
] as const;

const W = 920;
const H = 560;
const M = { left: 78, right: 200, top: 56, bottom: 64 };

/**
 * @example
 * writeFileSync('chart.svg', renderChart(chartPoints([readResults(path)]), { title: 'fanout', boundMs: 50 }));
 */
export function renderChart(points: readonly ChartPoint[], opts: { readonly title: string; readonly boundMs: number }): string {
  if (points.length === 0) throw new Error('no measured phases to chart (warm-up and liveness phases are not rates)');
  const xs = points.map((p) => p.deliveredPerSec);
  const ys = points.flatMap((p) => [p.p50Ms, p.p99Ms, p.p999Ms]).concat(opts.boundMs);
  const x = logScale(Math.min(...xs), Math.max(...xs), M.left, W - M.right);
  const y = logScale(Math.max(0.01, Math.min(...ys)), Math.max(...ys), H - M.bottom, M.top);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${M.left}" y="28" font-size="16" font-weight="600">${esc(opts.title)}</text>`);
  // Grid and ticks: every power of ten, with 2 and 5 between.
  for (const t of x.ticks) {
    parts.push(`<line x1="${f(x.at(t.value))}" y1="${M.top}" x2="${f(x.at(t.value))}" y2="${H - M.bottom}" stroke="${t.major ? '#ccc' : '#eee'}"/>`);
    if (t.label) parts.push(`<text x="${f(x.at(t.value))}" y="${H - M.bottom + 18}" text-anchor="middle" fill="#444">${esc(rateLabel(t.value))}</text>`);
  }
  for (const t of y.ticks) {
    parts.push(`<line x1="${M.left}" y1="${f(y.at(t.value))}" x2="${W - M.right}" y2="${f(y.at(t.value))}" stroke="${t.major ? '#ccc' : '#eee'}"/>`);
    if (t.label) parts.push(`<text x="${M.left - 8}" y="${f(y.at(t.value) + 4)}" text-anchor="end" fill="#444">${esc(msLabel(t.value))}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 18}" text-anchor="middle" fill="#222">delivered events/s (log)</text>`);
  parts.push(`<text transform="translate(20 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#222">latency append → receipt, ms (log)</text>`);
  const by = f(y.at(opts.boundMs));
  parts.push(`<line x1="${M.left}" y1="${by}" x2="${W - M.right}" y2="${by}" stroke="#c00" stroke-dasharray="4 4"/>`);
  parts.push(`<text x="${W - M.right - 4}" y="${f(y.at(opts.boundMs) - 5)}" text-anchor="end" fill="#c00">p99 goal ${esc(msLabel(opts.boundMs))} ms</text>`);

  const targets = [...new Set(points.map((p) => p.target))];
  for (const target of targets) {
    const color = COLORS[target] ?? '#555';
    const series = points.filter((p) => p.target === target).sort((a, b) => a.deliveredPerSec - b.deliveredPerSec);
    for (const pc of PERCENTILES) {
      const coords = series.map((p) => `${f(x.at(p.deliveredPerSec))},${f(y.at(p[pc.key]))}`);
      if (coords.length > 1) parts.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${pc.dash ? ` stroke-dasharray="${pc.dash}"` : ''}/>`);
      for (const p of series) parts.push(`<circle cx="${f(x.at(p.deliveredPerSec))}" cy="${f(y.at(p[pc.key]))}" r="3" fill="${color}"><title>${esc(`${target} ${pc.label}: ${msLabel(p[pc.key])} ms at ${Math.round(p.deliveredPerSec)}/s`)}</title></circle>`);
    }
  }
  // Legend: colours are targets, dashes are percentiles.
  let ly = M.top + 8;
  const lx = W - M.right + 18;
  for (const target of targets) {
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="10" fill="${COLORS[target] ?? '#555'}"/><text x="${lx + 22}" y="${ly}">${esc(target)}</text>`);
    ly += 20;
  }
  ly += 8;
  for (const pc of PERCENTILES) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="#333" stroke-width="2"${pc.dash ? ` stroke-dasharray="${pc.dash}"` : ''}/><text x="${lx + 38}" y="${ly}">${pc.label}</text>`);
    ly += 20;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

interface Tick {
  readonly value: number;
  readonly major: boolean;
  readonly label: boolean;
}

function logScale(min: number, max: number, from: number, to: number) {
  const lo = Math.floor(Math.log10(min));
  let hi = Math.ceil(Math.log10(max));
  if (hi === lo) hi = lo + 1;
  const at = (v: number) => from + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (to - from);
  const ticks: Tick[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** e;
      if (value > 10 ** hi) break;
      ticks.push({ value, major: m === 1, label: m === 1 || hi - lo <= 2 });
    }
  }
  return { at, ticks };
}

function rateLabel(v: number): string {
  return v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(v);
}

function msLabel(v: number): string {
  return v >= 1 ? String(+v.toPrecision(3)) : String(+v.toPrecision(2));
}

function f(n: number): string {
  return n.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

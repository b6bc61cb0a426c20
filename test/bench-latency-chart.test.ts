/** The chart: repeated runs reduce to one median point per phase, drawn as hand-written SVG. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartPoints, renderChart } from '../bench/report/latency-chart.ts';
import type { ResultsFile } from '../bench/report/results-file.ts';

function phase(label: string, deliveredPerSec: number, p99Ms: number) {
  return { label, deliveredPerSec, latency: { count: 1, p50Ms: p99Ms / 4, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3, meanMs: 1 } };
}

const file = {
  tool: 'plant-hub-bench',
  runs: [
    { target: 'hub', phases: [phase('warmup', 10, 1), phase('step 1', 1000, 2), phase('step 2', 2000, 4)] },
    { target: 'hub', phases: [phase('step 1', 1200, 3), phase('step 2', 2200, 8)] },
    { target: 'hub', phases: [phase('step 1', 1100, 100)] },
    { target: 'socketio', phases: [phase('step 1', 500, 20)] },
  ],
} as unknown as ResultsFile;

describe('latency chart', () => {
  it('takes the median of repeated runs of a phase and skips warm-up', () => {
    const points = chartPoints([file]);
    const hub = points.filter((p) => p.target === 'hub').sort((a, b) => a.deliveredPerSec - b.deliveredPerSec);
    assert.deepEqual(hub.map((p) => [p.deliveredPerSec, p.p99Ms]), [[1100, 3], [2100, 6]]);
    assert.equal(points.length, 3);
  });

  it('draws a line per target and percentile, the p99 goal, and escapes text', () => {
    const svg = renderChart(chartPoints([file]), { title: 'fanout <5k>', boundMs: 50 });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 3); // hub p50, p99, p99.9 (socketio has one point)
    assert.match(svg, /p99 goal 50 ms/);
    assert.match(svg, /fanout &lt;5k&gt;/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  it('refuses to draw nothing', () => {
    assert.throws(() => renderChart([], { title: 'x', boundMs: 50 }), /no measured phases/);
  });
});
